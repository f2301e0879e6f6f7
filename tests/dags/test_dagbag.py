"""The DAG files parse cleanly and fast, import nothing heavy, and wire what the brief asks."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import DAGS, airflow_env

HERE = Path(__file__).parent
EXPECTED = {"ais_ingest", "port_calls_ingest", "incidents_ingest", "vessel_risk_daily",
            "model_retrain"}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("airflow_parse")
    env = airflow_env(root, root / "home", f"sqlite:///{root / 'app.sqlite'}")
    proc = subprocess.run([sys.executable, str(HERE / "inspect_dags.py"), str(DAGS)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_no_import_errors_and_every_dag_is_there(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    assert set(parsed["dags"]) == EXPECTED


def test_each_file_parses_in_under_two_seconds_without_heavy_imports(
    parsed: dict[str, Any],
) -> None:
    for name, info in parsed["files"].items():
        assert info["seconds"] < 2.0, (name, info)
    assert parsed["heavy_modules"] == []


def test_every_dag_is_documented_tagged_owned_and_retried(parsed: dict[str, Any]) -> None:
    for dag_id, d in parsed["dags"].items():
        assert len(d["doc_md"]) > 400 and "fail" in d["doc_md"].lower(), dag_id
        assert "vessel-risk" in d["tags"], dag_id
        for task_id, t in d["tasks"].items():
            assert t["owner"] == "vessel-risk data engineering", (dag_id, task_id)
            assert t["retries"] >= 1 and t["on_failure_callback"], (dag_id, task_id)


def test_partitions_come_from_data_intervals(parsed: dict[str, Any]) -> None:
    dags = parsed["dags"]
    for dag_id in ("ais_ingest", "port_calls_ingest", "incidents_ingest", "vessel_risk_daily"):
        assert dags[dag_id]["timetable"] == "CronDataIntervalTimetable", dag_id
        assert dags[dag_id]["max_active_runs"] == 1
    assert {"date", "shards"} <= set(dags["vessel_risk_daily"]["params"])
    assert {"date", "reingest"} <= set(dags["ais_ingest"]["params"])


def test_ingest_dags_update_their_assets(parsed: dict[str, Any]) -> None:
    for kind, table in (("ais", "positions"), ("port_calls", "port_calls"),
                        ("incidents", "incidents")):
        task = parsed["dags"][f"{kind}_ingest"]["tasks"][f"ingest_{kind}"]
        assert task["outlets"] == [f"vessel_risk_{table}"]


def test_daily_dag_fans_detect_out_then_chains_the_stages(parsed: dict[str, Any]) -> None:
    tasks = parsed["dags"]["vessel_risk_daily"]["tasks"]
    assert tasks["detect_shard"]["mapped"]
    assert "detect_shard" in tasks["merge_detect"]["upstream"]
    chain = ["merge_detect", "features", "score", "alert", "report"]
    for before, after in itertools.pairwise(chain):
        assert before in tasks[after]["upstream"], (before, after)
    # days run in order where a stage reads the previous day's output
    assert tasks["features"]["depends_on_past"] and tasks["alert"]["depends_on_past"]
