"""Small simulated runs shared by the simulator tests (each takes a few seconds)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import Settings, load_settings
from pipeline.simulate import SimulationResult, simulate

# More junk and more smuggling than the defaults, so that small runs exercise every path.
TEST_ENV = {
    "VESSEL_RISK__SIMULATE__INVALID_VESSEL_FRACTION": "0.08",
    "VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.05",
}


@pytest.fixture(scope="session")
def sim_settings() -> Settings:
    return load_settings(env=TEST_ENV)


def run(settings: Settings, out: Path, region: str = "south-indonesia", start: str = "2024-11-01",
        days: int = 1, seed: int = 11, fmt: str = "csv", vessels: int = 120) -> SimulationResult:
    return simulate(settings, region, date.fromisoformat(start), days, seed, out, fmt,
                    vessels=vessels)


def read_positions(out: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in sorted(out.glob("positions_*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    df["t"] = pd.to_datetime(df["BaseDateTime"], utc=True)
    return df


@pytest.fixture(scope="session")
def andaman(tmp_path_factory: pytest.TempPathFactory, sim_settings: Settings
            ) -> tuple[SimulationResult, pd.DataFrame]:
    """Two days of the Bay of Bengal in peak season (mother ships waiting offshore)."""
    out = tmp_path_factory.mktemp("andaman")
    res = run(sim_settings, out, "andaman-sea", "2024-11-20", days=2, vessels=200)
    return res, read_positions(out)


@pytest.fixture(scope="session")
def java(tmp_path_factory: pytest.TempPathFactory, sim_settings: Settings
         ) -> tuple[SimulationResult, pd.DataFrame]:
    out = tmp_path_factory.mktemp("java")
    res = run(sim_settings, out, "south-indonesia", "2024-11-01", days=2, vessels=200)
    return res, read_positions(out)
