"""The one repository protocol both storage backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from store.rows import DistrictRow, TeamRow, TownshipRow, VillageRow


class StoreError(RuntimeError):
    """The store cannot do what was asked (unreachable, locked, read-only, …)."""


class Store(Protocol):
    """Persistence for GridPatrol; every method is one transaction."""

    url: str

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        ...

    def applied_migrations(self) -> list[str]:
        """Names of the migrations already applied, in order."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def replace_areas(
        self,
        district: DistrictRow,
        townships: Sequence[TownshipRow],
        villages: Sequence[VillageRow],
        teams: Sequence[TeamRow],
        cells: npt.NDArray[np.int64],
        cell_villages: Sequence[str],
    ) -> None:
        """Replace the district, its areas, teams and cell map in one transaction."""
        ...

    def district(self) -> DistrictRow | None:
        """The district held, or None when the store is empty."""
        ...

    def townships(self) -> list[TownshipRow]:
        """All townships, by code."""
        ...

    def villages(self, township_code: str | None = None) -> list[VillageRow]:
        """Village grids, by code; only one township's when given."""
        ...

    def teams(self, township_code: str | None = None) -> list[TeamRow]:
        """Grid teams, by village code; only one township's when given."""
        ...

    def cell_map(self) -> tuple[npt.NDArray[np.int64], list[str]]:
        """Sorted cells and the code of each cell's owning village."""
        ...

    def area_counts(self) -> dict[str, int]:
        """Counts of townships, villages, teams and cells."""
        ...
