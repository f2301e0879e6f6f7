"""Encounter detection on a simulated day at increasing fleet sizes.

Simulates one day (plus the look-back day) of a region per fleet size with the simulator
(Parquet), ingests it into a temporary lake, builds the track and times ``detect_encounter``
alone. The time per vessel should stay about flat as the fleet grows (space-time bucketing:
linear, not quadratic, in the number of vessels).

    .venv/bin/python benchmarks/bench_encounter.py --sizes 1000 5000 10000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from pipeline.config import load_settings
from pipeline.events.base import DetectContext
from pipeline.events.encounter import close_pairs, detect_encounter, resample
from pipeline.ingest.ais import ingest_ais
from pipeline.lake import Lake
from pipeline.schemas import PORT_CALLS, VESSEL_STATIC
from pipeline.simulate import simulate
from pipeline.tracks import load_track


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000],
                    help="fleet sizes (vessels) to simulate (default: 1000 5000 10000)")
    ap.add_argument("--region", default="south-indonesia", help="simulated region")
    ap.add_argument("--date", default="2024-11-02", help="the detected day (YYYY-MM-DD)")
    ap.add_argument("--seed", type=int, default=7, help="simulator seed")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per size (best is shown)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the simulated data here (default: a temporary directory)")
    args = ap.parse_args()
    settings = load_settings()
    day = date.fromisoformat(args.date)
    start = day - timedelta(days=settings.events.lookback_days)
    days = settings.events.lookback_days + 1
    print(f"{'vessels':>8} {'positions':>10} {'grid pts':>9} {'pairs':>7} {'events':>7} "
          f"{'detect s':>9} {'µs/vessel':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        for n in args.sizes:
            out = root / f"v{n}"
            simulate(settings, args.region, start, days, args.seed, out, "parquet", vessels=n)
            lake = Lake(out / "lake")
            ingest_ais(sorted(out.glob("positions_*.parquet")), lake)
            track = load_track(lake, day, settings.events)
            ctx = DetectContext(settings, day, VESSEL_STATIC.empty_table(),
                                PORT_CALLS.empty_table())
            best = float("inf")
            events = 0
            for _ in range(max(args.repeat, 1)):
                t0 = time.perf_counter()
                events = detect_encounter(track, ctx).num_rows
                best = min(best, time.perf_counter() - t0)
            grid = resample(track, ctx)
            pairs = len(close_pairs(grid, ctx).a)
            print(f"{n:>8} {len(track):>10} {len(grid.k):>9} {pairs:>7} {events:>7} "
                  f"{best:>9.2f} {best / n * 1e6:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
