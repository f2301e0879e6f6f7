"""Simulator speed: one day of south-indonesia traffic at a target number of positions.

Runs ``vessel-risk simulate`` in-process with ``--positions-per-day N`` (the fleet size is
derived from a small pilot run) and prints the wall time, positions/s and peak RSS.
Target (issue 3): 10 M positions in ≤ 60 s on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from pipeline.config import load_settings
from pipeline.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=10_000_000,
                        help="target positions per day (default 10,000,000)")
    parser.add_argument("--format", choices=["csv", "nmea", "parquet"], default="csv")
    parser.add_argument("--region", default="south-indonesia")
    parser.add_argument("--start", default="2024-11-01", help="simulated day (YYYY-MM-DD)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = simulate(settings, args.region, date.fromisoformat(args.start), 1, args.seed,
                       Path(tmp), args.format, positions_per_day=args.positions)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).glob("positions_*")) / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vessels = sum(res.vessels_by_kind.values())
    print(f"region={args.region} format={args.format} vessels={vessels:,} "
          f"positions={res.positions:,} file={size:,.0f} MB")
    print(f"wall={wall:.1f} s  positions/s={res.positions / wall:,.0f}  peak RSS={peak:,.0f} MB "
          f"(target: 10 M positions <= 60 s)")


if __name__ == "__main__":
    main()
