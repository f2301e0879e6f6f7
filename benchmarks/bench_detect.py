"""detect + features speed and memory on one simulated day at scale.

Simulates ``--days`` days of south-indonesia at ``--positions`` positions a day (Parquet),
ingests them into a scratch lake, then runs ``detect`` (which also reads the day before, its
look-back) and ``features`` for the last day in a fresh child process so
that the peak RSS printed is theirs alone. Target (issue 4): 10 M positions (10–20 k vessels)
in ≤ 30 s wall on 2 cores, peak RSS ≤ 6 GB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

DAY = "2024-11-01"


def prepare(home: Path, positions: int, seed: int, days: int) -> None:
    from pipeline.config import load_settings
    from pipeline.ingest.ais import ingest_ais
    from pipeline.lake import Lake
    from pipeline.simulate import simulate

    settings = load_settings()
    landing = home / "landing"
    t0 = time.perf_counter()
    first = date.fromisoformat(DAY) - timedelta(days=days - 1)
    res = simulate(settings, "south-indonesia", first, days, seed, landing,
                   "parquet", positions_per_day=positions)
    t1 = time.perf_counter()
    summary = ingest_ais(sorted(landing.glob("positions_*.parquet")), Lake(home / "lake"))
    t2 = time.perf_counter()
    print(f"prepared: {days} day(s), {sum(res.vessels_by_kind.values()):,} vessels, "
          f"{res.positions:,} positions (simulate {t1 - t0:.0f} s, ingest {t2 - t1:.0f} s, "
          f"accepted {sum(f.accepted for f in summary.files):,})")


def measure(home: Path, shards: int) -> None:
    from pipeline.config import load_settings
    from pipeline.events.detect import detect_day
    from pipeline.features import features_day
    from pipeline.lake import Lake

    settings = load_settings()
    lake = Lake(home / "lake")
    day = date.fromisoformat(DAY)
    t0 = time.perf_counter()
    det = detect_day(lake, settings, day, n_shards=shards)
    t1 = time.perf_counter()
    feat = features_day(lake, settings, day)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"detect: {t1 - t0:.1f} s ({det.positions:,} positions, {det.vessels:,} vessels, "
          f"events {det.events})")
    print("  per detector: " + ", ".join(f"{k} {v:.1f} s" for k, v in det.seconds.items()))
    print(f"features: {t2 - t1:.1f} s ({feat.vessels:,} rows)")
    print(f"detect + features: {t2 - t0:.1f} s wall, peak RSS {peak:,.0f} MB "
          f"(target <= 30 s, <= 6 GB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, default=10_000_000, help="positions in the day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shards", type=int, default=1, help="MMSI shards for detect")
    parser.add_argument("--days", type=int, default=2,
                        help="simulated days; the last is measured, the one before is its "
                             "look-back (2 = a steady-state day)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.shards)
        return
    with tempfile.TemporaryDirectory() as tmp:
        prepare(Path(tmp), args.positions, args.seed, args.days)
        subprocess.run([sys.executable, __file__, "--measure", tmp, "--shards", str(args.shards)],
                       check=True)


if __name__ == "__main__":
    main()
