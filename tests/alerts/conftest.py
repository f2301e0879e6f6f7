"""A small scored workspace (the real pipeline on simulated Andaman Sea traffic) and the alert
store on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.lake import Lake
from tests.dbfixtures import pg_session_url, store, store_url  # noqa: F401

START = date(2024, 11, 20)
DAYS = [START + timedelta(days=i) for i in range(3)]


@dataclass(frozen=True)
class Scored:
    settings: Settings
    home: Path
    days: list[date]

    @property
    def lake(self) -> Lake:
        return Lake(self.home / "lake")


def run_stages(lake: Lake, settings: Settings, day: date) -> None:
    from pipeline.events.detect import detect_day
    from pipeline.features import features_day
    from pipeline.scoring.score import score_day

    detect_day(lake, settings, day)
    features_day(lake, settings, day)
    score_day(lake, settings, day)


@pytest.fixture(scope="session")
def scored_home(tmp_path_factory: pytest.TempPathFactory) -> Scored:
    """Three days of the Bay of Bengal in peak season (80 vessels, smuggling in 10 %),
    ingested, detected, featured and scored by the rule baseline."""
    from pipeline.ingest.ais import ingest_ais
    from pipeline.simulate import simulate

    home = tmp_path_factory.mktemp("alerts-sim")
    # the rule baseline scores (an empty model registry), so that these tests do not move
    # when another champion is promoted; test_alerting checks the shipped champion too
    (home / "no-models").mkdir()
    s = load_settings(env={"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.1",
                           "VESSEL_RISK__SCORING__MODELS_DIR": str(home / "no-models")})
    simulate(s, "andaman-sea", START, len(DAYS), 5, home / "landing", "parquet", vessels=80)
    lake = Lake(home / "lake")
    ingest_ais(sorted((home / "landing").glob("positions_*.parquet")), lake)
    for d in DAYS:
        run_stages(lake, s, d)
    return Scored(s, home, DAYS)


@pytest.fixture
def scored(scored_home: Scored, tmp_path: Path) -> Scored:
    """A private copy of the scored workspace (tests may rewrite its lake)."""
    home = tmp_path / "ws"
    shutil.copytree(scored_home.home / "lake", home / "lake")
    return Scored(scored_home.settings, home, scored_home.days)


def with_alerts(settings: Settings, **changes: object) -> Settings:
    """Settings with some alerts.* values changed."""
    return settings.model_copy(update={"alerts": settings.alerts.model_copy(update=changes)})
