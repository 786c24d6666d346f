"""Copy the map assets from node_modules (and the folium package) to static/vendor/.

Run by ``make assets`` after ``npm ci``; the app serves them with Streamlit's static
file serving so that maps render on a network with no internet.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import folium

from layers.assets import VENDOR_FILES

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    """Copy every vendor file; return 1 and name the first one missing."""
    node_modules = ROOT / "node_modules"
    folium_dir = Path(folium.__file__).parent
    dest_root = ROOT / "static" / "vendor"
    for dest, src in VENDOR_FILES.items():
        source = folium_dir / src.removeprefix("folium:") if src.startswith("folium:") else node_modules / src
        if not source.exists():
            sys.stderr.write(f"missing map asset {source}: run 'npm ci' first\n")
            return 1
        target = dest_root / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    sys.stdout.write(f"map assets: {len(VENDOR_FILES)} entries in {dest_root}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
