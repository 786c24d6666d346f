"""Plain records the store reads and writes; no behaviour, standard library only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DistrictRow:
    """The district the store holds (one per store in this version)."""

    code: str
    name: str
    name_en: str
    h3_resolution: int
    is_demo: bool


@dataclass(frozen=True)
class TownshipRow:
    """A township (镇) or street (街道); geometry as WKB in WGS84."""

    code: str
    name: str
    name_en: str
    kind: str
    empowerment_class: str
    geometry_wkb: bytes


@dataclass(frozen=True)
class VillageRow:
    """A village (村) or community (社区) grid; geometry as WKB in WGS84."""

    code: str
    township_code: str
    name: str
    kind: str
    geometry_wkb: bytes


@dataclass(frozen=True)
class TeamRow:
    """The grid team (网格团队) of one village grid."""

    id: int
    village_code: str
    name: str
    captain: str
    members: tuple[str, ...]
