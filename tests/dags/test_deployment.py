"""The deployment for real: Airflow's components as processes (api-server, scheduler,
dag-processor, one Celery worker) on PostgreSQL (fresh metadata and app databases, dropped
afterwards) with Redis as the broker. Ingest and daily runs are triggered through the REST
API; then ``airflow backfill create`` over three days must give exactly what three single
in-process runs give (lake partitions byte for byte, alerts row for row) although the first
day was already processed once (a rerun) and detect ran in 3 shards on the Celery worker."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy.engine import make_url

from pipeline.lake import Lake
from tests.dags.conftest import Simulated, airflow_env, alerts_frame
from tests.dbfixtures import pg_database

pytestmark = pytest.mark.slow
REDIS = "redis://127.0.0.1:6379/{db}"
BOUND_S = 240  # a run of this small fleet finishes well within this on 2 busy cores
SHARDS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_db() -> int:
    """A Redis database of its own (15 … 8, the first empty one), flushed afterwards."""
    import redis

    for n in range(15, 7, -1):
        r = redis.Redis.from_url(REDIS.format(db=n))
        try:
            if r.dbsize() == 0:
                return n
        finally:
            r.close()
    pytest.fail("no empty Redis database among 8..15 at 127.0.0.1:6379")


class Stack:
    """The processes, their environment and a REST client with a token."""

    def __init__(self, root: Path, env: dict[str, str], port: int, password: str) -> None:
        self.root, self.env, self.port, self.password = root, env, port, password
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.client: httpx.Client | None = None

    def start(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), *args], env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root)

    def stop(self) -> None:
        """SIGTERM to each started process group (by the PID we started), SIGKILL on timeout."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.client:
            self.client.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                         for p in sorted(self.root.glob("*.log")))

    def cli(self, *args: str) -> str:
        proc = subprocess.run([str(Path(sys.executable).parent / "airflow"), *args],
                              env=self.env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return proc.stdout

    def api(self, method: str, path: str, **kw: Any) -> Any:
        assert self.client is not None
        r = self.client.request(method, path, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text[:1000])
        return r.json() if r.content else None

    def wait_for(self, what: str, check: Any, bound_s: float) -> Any:
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} exited\n{self.logs()}"
            got = check()
            if got:
                return got
            time.sleep(1.0)
        pytest.fail(f"{what}: not within {bound_s} s\n{self.logs()}")

    def wait_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run: dict[str, Any] = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = self.wait_for(f"{dag_id} {run_id}", done, BOUND_S)
        if run["state"] != "success":
            tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
            pytest.fail(f"{dag_id} {run_id} failed: "
                        f"{[(t['task_id'], t['state']) for t in tis['task_instances']]}\n"
                        f"{self.logs()}")
        return run


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, simulated: Simulated, models_dir: Path
          ) -> Iterator[Stack]:
    try:  # Airflow 3 opens its PostgreSQL metadata database with an async engine too
        import asyncpg  # noqa: F401
    except ImportError:
        pytest.fail("asyncpg is needed for Airflow on PostgreSQL: add it to the dependencies "
                    "in pyproject.toml and regenerate the locks (README: Dependencies)")
    root = tmp_path_factory.mktemp("deploy")
    simulated.land(root / "home")
    redis_db = _redis_db()
    with pg_database("vr_airflow") as meta_url, pg_database("vr_app") as app_url:
        meta = make_url(meta_url)
        port, log_port = _free_port(), _free_port()
        password = secrets.token_urlsafe(12)
        (root / "passwords.json").write_text(json.dumps({"admin": password}))
        queue = f"vessel-risk-test-{uuid.uuid4().hex[:8]}"  # no other worker takes our tasks
        env = airflow_env(
            root / "airflow", root / "home", app_url, models_dir,
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=meta.render_as_string(hide_password=False),
            AIRFLOW__CELERY__RESULT_BACKEND="db+" + meta.set(drivername="postgresql+psycopg2")
            .render_as_string(hide_password=False),
            AIRFLOW__CELERY__BROKER_URL=REDIS.format(db=redis_db),
            AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
            AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(16),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(root / "passwords.json"),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            # only the runs this test asks for: no timetable runs of "yesterday"
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
            AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(log_port),
            VESSEL_RISK_TASK_RETRIES="0",
            VESSEL_RISK_DETECT_SHARDS=str(SHARDS),
        )
        s = Stack(root, env, port, password)
        try:
            s.cli("db", "migrate")
            s.start("api-server", "api-server", "--port", str(port), "--host", "127.0.0.1")
            s.start("scheduler", "scheduler")
            s.start("dag-processor", "dag-processor")
            s.start("worker", "celery", "worker", "--queues", queue, "--concurrency", "2")
            base = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                try:
                    return httpx.get(f"{base}/api/v2/version", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            s.wait_for("api-server health", healthy, 90)
            r = httpx.post(f"{base}/auth/token", json={"username": "admin",
                                                       "password": password}, timeout=10)
            assert r.status_code in (200, 201), r.text
            s.client = httpx.Client(base_url=base, timeout=30, headers={
                "Authorization": f"Bearer {r.json()['access_token']}"})

            def parsed() -> bool:
                dags = s.api("GET", "/api/v2/dags", params={"limit": 100})["dags"]
                return {"ais_ingest", "vessel_risk_daily"} <= {d["dag_id"] for d in dags}

            s.wait_for("DAGs parsed by the dag-processor", parsed, 120)
            for dag_id in ("ais_ingest", "port_calls_ingest", "incidents_ingest",
                           "vessel_risk_daily"):
                s.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
            yield s
        finally:
            s.stop()
            import redis

            redis.Redis.from_url(REDIS.format(db=redis_db)).flushdb()


@pytest.fixture(scope="module")
def deployed(stack: Stack, simulated: Simulated) -> dict[str, Any]:
    """Ingest through the REST API, one daily run for day 1 through the REST API (its
    ``date`` param: a manual rerun), then a backfill of days 1-3 with the CLI."""
    out: dict[str, Any] = {"ingest": {}}
    for dag_id in ("ais_ingest", "port_calls_ingest", "incidents_ingest"):
        run = stack.api("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                        json={"logical_date": None, "conf": {}})
        out["ingest"][dag_id] = stack.wait_run(dag_id, run["dag_run_id"])
    d1 = simulated.days[0]
    t0 = time.monotonic()
    run = stack.api("POST", "/api/v2/dags/vessel_risk_daily/dagRuns",
                    json={"logical_date": None, "conf": {"date": d1.isoformat()}})
    out["manual"] = stack.wait_run("vessel_risk_daily", run["dag_run_id"])
    out["manual_seconds"] = time.monotonic() - t0
    lake = Lake(Path(stack.env["VESSEL_RISK_HOME"]) / "lake")
    out["after_manual"] = {t: Path(lake.partition_path(t, d1)).read_bytes()
                           for t in ("events", "features", "scores")}
    out["alerts_after_manual"] = alerts_frame(stack.env["VESSEL_RISK_DB_URL"], d1)
    stack.cli("backfill", "create", "--dag-id", "vessel_risk_daily",
              "--from-date", simulated.days[0].isoformat(),
              "--to-date", simulated.days[-1].isoformat(), "--max-active-runs", "1",
              "--reprocess-behavior", "completed")

    def backfill_runs() -> list[dict[str, Any]] | None:
        runs = stack.api("GET", "/api/v2/dags/vessel_risk_daily/dagRuns",
                         params={"limit": 100})["dag_runs"]
        mine = [r for r in runs if r["run_type"] == "backfill"]
        if len(mine) == len(simulated.days) and all(
                r["state"] in ("success", "failed") for r in mine):
            return mine
        return None

    runs = stack.wait_for("backfill of 3 days", backfill_runs, BOUND_S * len(simulated.days))
    assert {r["state"] for r in runs} == {"success"}, stack.logs()
    out["backfill"] = runs
    return out


def test_components_are_up_and_the_dags_parsed(stack: Stack) -> None:
    health = httpx.get(f"http://127.0.0.1:{stack.port}/api/v2/monitor/health", timeout=10).json()
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy"
    assert health["dag_processor"]["status"] == "healthy"
    errors = stack.api("GET", "/api/v2/importErrors")
    assert errors["total_entries"] == 0, errors


def test_ingest_runs_update_the_assets(stack: Stack, deployed: dict[str, Any]) -> None:
    assert {r["state"] for r in deployed["ingest"].values()} == {"success"}
    events = stack.api("GET", "/api/v2/assets/events", params={"limit": 50})["asset_events"]
    by_asset = {e["uri"]: e for e in events}
    pos = by_asset["file:///vessel-risk/lake/positions"]
    assert pos["extra"]["days"][:3] == [d.isoformat() for d in
                                         [date(2025, 11, 3) + timedelta(days=i) for i in range(3)]]


def test_manual_run_within_bound_with_alerts_in_the_app_database(
    deployed: dict[str, Any], reference: dict[str, Any], simulated: Simulated
) -> None:
    assert deployed["manual_seconds"] < BOUND_S
    got = deployed["alerts_after_manual"]
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, alerts_frame(reference["db"], simulated.days[0]))


def test_backfill_equals_single_runs_and_the_rerun_changed_nothing(
    stack: Stack, deployed: dict[str, Any], reference: dict[str, Any], simulated: Simulated
) -> None:
    lake = Lake(Path(stack.env["VESSEL_RISK_HOME"]) / "lake")
    ref = Lake(reference["home"] / "lake")
    days = sorted(date.fromisoformat(r["logical_date"][:10]) for r in deployed["backfill"])
    assert days == simulated.days  # each backfill run processed its interval's day
    for d in simulated.days:
        for table in ("events", "features", "scores"):
            assert Path(lake.partition_path(table, d)).read_bytes() == \
                Path(ref.partition_path(table, d)).read_bytes(), (table, d)
        pd.testing.assert_frame_equal(alerts_frame(stack.env["VESSEL_RISK_DB_URL"], d),
                                      alerts_frame(reference["db"], d))
        assert (Path(stack.env["VESSEL_RISK_HOME"]) / "reports" / d.isoformat() /
                "report.html").is_file()
    d1 = simulated.days[0]
    for table, before in deployed["after_manual"].items():
        assert Path(lake.partition_path(table, d1)).read_bytes() == before, table
    assert not (lake.root and Path(lake.root, "_staging", "detect", f"date={d1}").exists())
