"""Run every benchmark and write bench/results/ (``make bench``).

``python -m bench [geo,ingest,app]`` runs a subset.
"""

from __future__ import annotations

import sys

from bench import bench_app, bench_geo, bench_ingest

SUITES = {"geo": bench_geo.run, "ingest": bench_ingest.run, "app": bench_app.run}


def main(argv: list[str]) -> int:
    names = argv[0].split(",") if argv else list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}\n")
        return 2
    for name in names:
        report = SUITES[name]()
        report.write(name)
        sys.stdout.write(report.markdown() + "\n\n")
        for f in report.figures:
            if f.note:
                sys.stdout.write(f"- {f.name}: {f.note}\n")
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
