"""Fixtures of the DAG tests: one small simulated stretch of south-indonesia (reused by every
test of the session), workspaces that land it, and the environment of an Airflow process."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.config import Settings, load_settings
from pipeline.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
START = date(2025, 11, 3)
DAYS = 3
# a small fleet with plenty of smuggling scenarios, so that a day has alerts
ENV = {"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.15"}
VESSELS = 60
MODELS_ENV = "VESSEL_RISK__SCORING__MODELS_DIR"
SEED = 7


@dataclass(frozen=True)
class Simulated:
    out: Path
    days: list[date]

    def land(self, home: Path) -> Workspace:
        """A fresh workspace whose landing folders hold the simulated files."""
        ws = Workspace.resolve(home)
        for sub, names in (("ais", [f"positions_{d.isoformat()}.nmea" for d in self.days]),
                           ("port_calls", ["port_calls.csv"]), ("incidents", ["incidents.csv"])):
            folder = ws.landing / sub / "feed"
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                shutil.copyfile(self.out / name, folder / name)
        return ws


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped model registry: every run of the session scores with the same
    champion, whatever happens to the repo's models/ meanwhile."""
    out = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(REPO / "models", out)
    return out


@pytest.fixture(scope="session")
def dag_settings(models_dir: Path) -> Settings:
    return load_settings(env={**ENV, MODELS_ENV: str(models_dir)})


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory, dag_settings: Settings) -> Simulated:
    from pipeline.simulate.engine import simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(dag_settings, "south-indonesia", START, DAYS, SEED, out, fmt="nmea", vessels=VESSELS)
    return Simulated(out, [START + timedelta(days=i) for i in range(DAYS)])


def airflow_env(root: Path, home: Path, db_url: str, models: Path | None = None, **extra: str
                ) -> dict[str, str]:
    """Environment of an Airflow process: its own AIRFLOW_HOME (set before the first airflow
    import, which happens only in that process), this repo's dags, the app database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VESSEL_RISK"))}
    env.update({
        "AIRFLOW_HOME": str(root),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(root / "logs"),
        "VESSEL_RISK_HOME": str(home),
        "VESSEL_RISK_DB_URL": db_url,
        "PYTHONPATH": str(REPO),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        **ENV,
    })
    if models is not None:
        env[MODELS_ENV] = str(models)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, simulated: Simulated,
              dag_settings: Settings) -> dict[str, Any]:
    """The simulated days through the same stage functions in this process, unsharded, one
    single run per day: what every Airflow run must reproduce."""
    from pipeline.alerts.store import open_store
    from pipeline.orchestration import Env, run_day, run_ingest

    root = tmp_path_factory.mktemp("reference")
    ws = simulated.land(root / "home")
    db = f"sqlite:///{root / 'app.sqlite'}"
    env = Env(dag_settings, ws)
    env._engine = open_store(db)
    for kind in ("ais", "port_calls", "incidents"):
        run_ingest(env, kind, simulated.days[0])
    for d in simulated.days:
        run_day(env, d, n_shards=1)
    return {"home": root / "home", "db": db}


def alerts_frame(db: str, day: date) -> pd.DataFrame:
    """The alerts of a day in a comparable form (sorted by id; no clock columns)."""
    from pipeline.alerts.queries import alerts_for_day
    from pipeline.alerts.store import open_store

    frame = pd.DataFrame(alerts_for_day(open_store(db), day))
    cols = ["alert_id", "mmsi", "date", "rank", "score", "model_id", "reason_codes",
            "departure_zone", "evidence_strength", "status"]
    return frame[cols].sort_values("alert_id").reset_index(drop=True) if len(frame) else frame
