"""Run every benchmark and write bench/results/ (``make bench``)."""

from __future__ import annotations

import sys

from bench import bench_geo


def main() -> int:
    reports = [bench_geo.run()]
    for r in reports:
        sys.stdout.write(r.markdown() + "\n\n")
        for f in r.figures:
            if f.note:
                sys.stdout.write(f"- {f.name}: {f.note}\n")
    reports[0].write("geo")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
