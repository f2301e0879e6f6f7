"""``dag.test()`` runs the ingest DAGs and ``vessel_risk_daily`` (3 detect shards) on simulated
data in an Airflow process of its own (SQLite metadata); the lake and the app database must
hold exactly what the same stages give in one process, and a rerun changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.alerts.store import open_store
from pipeline.lake import Lake
from tests.dags.conftest import DAGS, Simulated, airflow_env, alerts_frame

HERE = Path(__file__).parent
SHARDS = 3
TABLES = ("events", "features", "scores")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dag_run(tmp_path_factory: pytest.TempPathFactory, simulated: Simulated, models_dir: Path
            ) -> dict[str, Any]:
    """Both days through the DAGs, then the first day again (a rerun after the second)."""
    root = tmp_path_factory.mktemp("dagtest")
    simulated.land(root / "home")
    db = f"sqlite:///{root / 'app.sqlite'}"
    env = airflow_env(root / "airflow", root / "home", db, models_dir,
                      VESSEL_RISK_TASK_RETRIES="0")
    days = [d.isoformat() for d in simulated.days[:2]]
    proc = subprocess.run(
        [sys.executable, str(HERE / "run_dag_tests.py"), str(DAGS), str(SHARDS), *days],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"home": root / "home", "db": db, "runs": result["runs"]}


def test_every_run_and_task_succeeds(dag_run: dict[str, Any]) -> None:
    runs = dag_run["runs"]
    assert [r["dag_id"] for r in runs] == ["ais_ingest", "port_calls_ingest",
                                           "incidents_ingest", "vessel_risk_daily",
                                           "vessel_risk_daily"]
    for r in runs:
        assert r["state"] == "success", r
        assert set(r["tasks"].values()) == {"success"}, r
    daily = runs[-1]["tasks"]
    assert {f"detect_shard[{k}]" for k in range(SHARDS)} <= set(daily)


def test_partitions_follow_the_data_interval(dag_run: dict[str, Any], simulated: Simulated
                                             ) -> None:
    """Runs due at D+1 00:00 processed day D (nothing for the day of the run itself)."""
    lake = Lake(dag_run["home"] / "lake")
    assert lake.dates("scores") == simulated.days[:2]
    for d in simulated.days[:2]:
        assert (dag_run["home"] / "reports" / d.isoformat() / "report.html").is_file()


def test_sharded_dag_equals_one_process_and_has_the_expected_alerts(
    dag_run: dict[str, Any], reference: dict[str, Any], simulated: Simulated
) -> None:
    got, ref = Lake(dag_run["home"] / "lake"), Lake(reference["home"] / "lake")
    truth = pd.read_csv(simulated.out / "ground_truth" / "vessel_days.csv")
    total = 0
    for d in simulated.days[:2]:
        for table in TABLES:
            assert Path(got.partition_path(table, d)).read_bytes() == \
                Path(ref.partition_path(table, d)).read_bytes(), (table, d)
        a, b = alerts_frame(dag_run["db"], d), alerts_frame(reference["db"], d)
        pd.testing.assert_frame_equal(a, b)
        total += len(a)
        # the simulator's smuggling vessel-days of the day are among the alerts
        bad = set(truth[(truth["date"] == d.isoformat()) & (truth["label"] == 1)]["mmsi"])
        assert bad & set(a["mmsi"]), d
    assert total > 0


def test_failures_and_runs_are_recorded(dag_run: dict[str, Any]) -> None:
    from pipeline.alerts.queries import recent_runs

    runs = recent_runs(open_store(dag_run["db"]), limit=200)
    stages = {r["stage"] for r in runs if r["status"] == "ok"}
    assert {"ingest", "labels", "detect_shard", "detect", "features", "score", "alert",
            "report"} <= stages
    assert not [r for r in runs if r["status"] == "failed"]
