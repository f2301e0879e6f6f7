"""A small simulated region shared by the detector tests (built once per test session)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.config import Settings, load_settings
from pipeline.ingest.ais import ingest_ais
from pipeline.lake import Lake
from pipeline.tracks import Track, load_track


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Track, pd.DataFrame]:
    """Two days of the Bay of Bengal in peak season, ingested; the second day's window and
    the simulator's ground-truth phases."""
    from pipeline.simulate import simulate

    s = load_settings(env={"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.1"})
    home = tmp_path_factory.mktemp("andaman-sim")
    simulate(s, "andaman-sea", date(2024, 11, 20), 2, 5, home / "landing", "parquet",
             vessels=100)
    lake = Lake(home / "lake")
    ingest_ais(sorted((home / "landing").glob("positions_*.parquet")), lake)
    track = load_track(lake, date(2024, 11, 21), s.events)
    gt = pd.read_csv(home / "landing" / "ground_truth" / "events.csv")
    gt["start"] = pd.to_datetime(gt["start"], utc=True)
    gt["end"] = pd.to_datetime(gt["end"], utc=True)
    return s, track, gt
