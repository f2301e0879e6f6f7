"""Loiter detection against MovingPandas' TrajectoryStopDetector on the same real AIS.

Ingests real MarineCadastre CSV files (by default the two NOAA samples shipped in tests/data)
into a temporary lake, builds the track once, and times on the same positions:

- ``detect_loiter`` (the whole detector: runs, night hours, distances to shore and to the
  departure points), best of ``--repeat`` warm runs;
- MovingPandas' ``TrajectoryStopDetector.get_stop_time_ranges`` on a TrajectoryCollection of
  the same positions cut at the same segment breaks, with the equivalent parameters
  (max_diameter = loiter_max_sog_kn × min duration; see tests/events/test_loiter.py), one run.

Building the inputs (our Track, their TrajectoryCollection) is timed separately and not part
of the ratio. Target (issue 4): loiter detection ≥ 50× faster than MovingPandas.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.config import load_settings
from pipeline.events.base import DetectContext
from pipeline.events.loiter import detect_loiter
from pipeline.ingest.ais import ingest_ais
from pipeline.lake import Lake
from pipeline.tracks import Track, load_track

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DEFAULT_CSV = [
    DATA / "ais" / "noaa_marinecadastre_2022-01-03_slice.csv",
    DATA / "movingpandas" / "noaa_marinecadastre_2022-01-03_dense_vessels.csv",
]


@dataclass
class Result:
    name: str
    positions: int
    segments: int
    ours_s: float
    ours_stops: int
    ours_h: float
    mp_s: float
    mp_build_s: float
    mp_stops: int
    mp_h: float


def trajectories(track: Track) -> object:
    """A MovingPandas TrajectoryCollection of the track, one trajectory per segment."""
    import geopandas as gpd
    import movingpandas as mpd

    df = pd.DataFrame({"seg": track.segment, "lat": track.lat, "lon": track.lon,
                       "t": pd.to_datetime(track.t, unit="us")})
    df = df[df.groupby("seg")["t"].transform("size") >= 2]
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
    return mpd.TrajectoryCollection(gdf, traj_id_col="seg", t="t")


def run(csv: Path, day: date, min_duration_h: float, repeat: int) -> Result:
    import movingpandas as mpd

    settings = load_settings()
    ev = settings.events.model_copy(update={"loiter_min_duration_h": min_duration_h})
    settings = settings.model_copy(update={"events": ev})
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp) / "lake")
        ingest_ais([csv], lake)
        track = load_track(lake, day, ev)
    ctx = DetectContext(settings, day, pa.table({}), pa.table({}))
    detect_loiter(track, ctx)  # warm: reference geometry indexes are built once per process
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        ours = detect_loiter(track, ctx)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    tc = trajectories(track)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    stops = mpd.TrajectoryStopDetector(tc).get_stop_time_ranges(
        max_diameter=ev.loiter_max_sog_kn * 1852 * min_duration_h,
        min_duration=timedelta(hours=min_duration_h))
    mp_s = time.perf_counter() - t0
    mp_h = sum((r.t_n - r.t_0).total_seconds() for r in stops) / 3600
    return Result(csv.name, len(track), int(track.segment.max()) + 1 if len(track) else 0,
                  best, ours.num_rows, float(np.sum(ours.column("duration_h").to_numpy())),
                  mp_s, build, len(stops), mp_h)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", type=Path, nargs="+", default=DEFAULT_CSV,
                   help="MarineCadastre-layout CSV files, each timed on its own "
                        "(default: the NOAA samples in tests/data)")
    p.add_argument("--date", default="2022-01-03", help="UTC day of the data (default %(default)s)")
    p.add_argument("--min-duration-h", type=float, nargs="+", default=[1.0, 5 / 60],
                   help="minimum loiter/stop durations to time (default: 1 h as GFW, and "
                        "5 min, at which the dense sample has many stops)")
    p.add_argument("--repeat", type=int, default=5, help="best of N runs of detect_loiter")
    args = p.parse_args()
    warnings.filterwarnings("ignore")  # MovingPandas' optional-dependency and pandas notices
    day = date.fromisoformat(args.date)
    print(f"{'file':<52} {'min dur':>7} {'positions':>9} {'segments':>8} "
          f"{'ours s':>8} {'stops':>5} {'MP s':>8} {'stops':>5} {'speed-up':>8}")
    for csv in args.csv:
        for h in args.min_duration_h:
            r = run(csv, day, h, args.repeat)
            print(f"{r.name:<52} {h * 60:>5.0f}m {r.positions:>9,} {r.segments:>8,} "
                  f"{r.ours_s:>8.4f} {r.ours_stops:>5} {r.mp_s:>8.3f} {r.mp_stops:>5} "
                  f"{r.mp_s / r.ours_s:>7.0f}×")
            print(f"{'':<52} stop hours: ours {r.ours_h:.1f}, MovingPandas {r.mp_h:.1f}; "
                  f"building MovingPandas' trajectories took {r.mp_build_s:.3f} s more")


if __name__ == "__main__":
    main()
