"""Repeat cases (反复发案), one rule for every way an incident is made.

A new report repeats a closed case when it is of the same enforcement item, in the same H3
cell, and reported within ``REPEAT_WINDOW`` after that case was closed: the problem came back
where it had been dealt with. It is linked to the case closed last before it. The repeat
rate of the ranking counts these links.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from patrol.incident import State
from store.protocol import Store
from store.rows import IncidentQuery

REPEAT_WINDOW = timedelta(days=30)
CLOSED_COLUMNS = ("id", "item_code", "cell", "closed_at")
MAX_CELLS_IN_QUERY = 500  # SQL parameters per query stay well under the engines' limits


def link_repeats(
    new: pd.DataFrame, closed: pd.DataFrame, window: timedelta = REPEAT_WINDOW
) -> npt.NDArray[np.object_]:
    """For each new report, the id of the closed case it repeats, or None.

    Parameters
    ----------
    new : pandas.DataFrame
        ``item_code``, ``cell`` and ``reported_at`` (tz-aware) of the new reports.
    closed : pandas.DataFrame
        ``id``, ``item_code``, ``cell`` and ``closed_at`` of closed cases (others are ignored).
    """
    out = np.full(len(new), None, dtype=object)
    done = closed[closed["closed_at"].notna()] if len(closed) else closed
    if len(new) == 0 or len(done) == 0:
        return out
    left = pd.DataFrame(
        {
            "at": pd.to_datetime(new["reported_at"], utc=True).astype("datetime64[us, UTC]").to_numpy(),
            "item_code": new["item_code"].astype(str).to_numpy(),
            "cell": new["cell"].astype(np.int64).to_numpy(),
            "row": np.arange(len(new)),
        }
    ).sort_values("at", kind="stable")
    right = pd.DataFrame(
        {
            "at": pd.to_datetime(done["closed_at"], utc=True).astype("datetime64[us, UTC]").to_numpy(),
            "item_code": done["item_code"].astype(str).to_numpy(),
            "cell": done["cell"].astype(np.int64).to_numpy(),
            "repeat_of": done["id"].astype(str).to_numpy(),
        }
    ).sort_values("at", kind="stable")
    matched = pd.merge_asof(
        left,
        right,
        on="at",
        by=["item_code", "cell"],
        direction="backward",
        tolerance=pd.Timedelta(window),
        allow_exact_matches=False,  # closed before the report, not at the same instant
    )
    found = matched["repeat_of"].notna().to_numpy()
    out[matched["row"].to_numpy()[found]] = matched["repeat_of"].to_numpy()[found]
    return out


def closed_cases(
    store: Store,
    items: npt.ArrayLike,
    cells: npt.ArrayLike,
    reported_from: datetime,
    reported_to: datetime,
    window: timedelta = REPEAT_WINDOW,
) -> pd.DataFrame:
    """The stored closed cases that reports of these items and cells in this span could repeat."""
    item_codes = tuple(sorted({str(i) for i in np.asarray(items, dtype=object)}))
    cell_ids = tuple(sorted({int(c) for c in np.asarray(cells, dtype=np.int64)}))
    if not item_codes or not cell_ids:
        return pd.DataFrame(columns=list(CLOSED_COLUMNS))
    few = len(cell_ids) <= MAX_CELLS_IN_QUERY  # a big import: filter its cells here, not in SQL
    found = store.incident_frame(
        IncidentQuery(
            states=(State.CLOSED.value,),
            item_codes=item_codes,
            cells=cell_ids if few else None,
            closed_from=reported_from - window,
            closed_to=reported_to,
        ),
        CLOSED_COLUMNS,
    )
    return found if few else found[found["cell"].isin(cell_ids)]
