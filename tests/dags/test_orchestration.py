"""pipeline.orchestration: which landed files a run takes, partition days from intervals,
recorded runs, failure mail, the app database of a deployment."""

from __future__ import annotations

import os
import shutil
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar

import pytest

from pipeline.alerts.queries import recent_runs
from pipeline.alerts.store import open_store
from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.lake import Lake
from pipeline.orchestration import (
    Env,
    ensure_app_database,
    ingest_landed,
    landed_files,
    notify_failure,
    partition_day,
    run_ingest,
    run_ingest_incidents,
    shard_count,
    task_failed,
)
from pipeline.workspace import Workspace
from tests.dags.conftest import Simulated

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def env(tmp_path: Path, dag_settings: Settings) -> Env:
    e = Env(dag_settings, Workspace.resolve(tmp_path / "home"))
    e._engine = open_store(f"sqlite:///{tmp_path / 'app.sqlite'}")
    return e


def test_partition_day_comes_from_the_interval_or_the_param() -> None:
    start = datetime(2025, 11, 4, 0, 0, tzinfo=UTC)
    assert partition_day(start) == date(2025, 11, 4)
    # an interval start given in another zone is still the UTC day
    assert partition_day(datetime(2025, 11, 4, 7, 0, tzinfo=timezone(timedelta(hours=7)))) == \
        date(2025, 11, 4)
    assert partition_day(start, "2025-10-01") == date(2025, 10, 1)
    with pytest.raises(UserError, match="YYYY-MM-DD"):
        partition_day(start, "01/10/2025")
    with pytest.raises(UserError, match="date=YYYY-MM-DD"):
        partition_day(None)


def test_shard_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VESSEL_RISK_DETECT_SHARDS", raising=False)
    assert shard_count(None) == 2
    monkeypatch.setenv("VESSEL_RISK_DETECT_SHARDS", "5")
    assert shard_count(None) == 5 and shard_count(3) == 3
    for bad in (0, "x"):
        with pytest.raises(UserError):
            shard_count(bad)


def test_landing_takes_each_content_once_whatever_its_name_or_time(
    env: Env, simulated: Simulated
) -> None:
    folder = env.workspace.landing / "ais" / "feed"
    folder.mkdir(parents=True)
    day1 = simulated.out / f"positions_{simulated.days[0]}.nmea"
    shutil.copyfile(day1, folder / day1.name)
    shutil.copyfile(day1, folder / ".upload-in-progress.nmea")  # hidden: not complete yet
    shutil.copyfile(day1, folder / "next.nmea.part")
    assert [p.name for p in landed_files(env.workspace, "ais")] == [day1.name]
    first = run_ingest(env, "ais", simulated.days[0])
    assert first["files"] == 1 and first["days"] == [simulated.days[0].isoformat()]
    lake = Lake(env.workspace.lake)
    before = Path(lake.partition_path("positions", simulated.days[0])).read_bytes()
    # the same content again under another name and a new time: nothing new
    copy = folder / "resent" / "same_file_again.nmea"
    copy.parent.mkdir()
    shutil.copyfile(day1, copy)
    os.utime(copy, (1e9, 1e9))
    again = run_ingest(env, "ais", simulated.days[1])
    assert again["files"] == 0 and again["already_ingested"] == 2
    # a file landing late (its name says nothing about its days) is taken by the next run
    day2 = simulated.out / f"positions_{simulated.days[1]}.nmea"
    shutil.copyfile(day2, folder / "late.nmea")
    late = ingest_landed(env, "ais", simulated.days[2])
    assert late.pending == ["feed/late.nmea"] and simulated.days[1].isoformat() in late.days
    assert Path(lake.partition_path("positions", simulated.days[0])).read_bytes() == before
    # reingest of a day takes again only the files whose rows touch it
    redo = ingest_landed(env, "ais", simulated.days[0], reingest=True)
    assert sorted(redo.pending) == [f"feed/{day1.name}", "feed/resent/same_file_again.nmea"]
    assert Path(lake.partition_path("positions", simulated.days[0])).read_bytes() == before
    runs = [r for r in recent_runs(env.engine, limit=20) if r["stage"] == "ingest"]
    assert len(runs) == 2 and {r["status"] for r in runs} == {"ok"}


def test_a_bad_file_fails_the_run_once_with_its_name(env: Env) -> None:
    folder = env.workspace.landing / "port_calls"
    folder.mkdir(parents=True)
    shutil.copyfile(DATA / "port_calls" / "sample_port_calls.csv", folder / "good.csv")
    (folder / "broken.csv").write_bytes(b"\x00\x01 not a port-call file\n")
    with pytest.raises(UserError, match=r"broken\.csv"):
        run_ingest(env, "port_calls", date(2022, 1, 3))
    runs = recent_runs(env.engine, limit=5)
    assert runs[0]["status"] == "failed" or any(r["status"] == "failed" for r in runs)
    assert Lake(env.workspace.lake).dates("port_calls")  # the good file went in
    # the failure is in the ledger: the next run does not fail on the same content again
    assert run_ingest(env, "port_calls", date(2022, 1, 4))["files"] == 0


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive one message."""

    received: ClassVar[list[str]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        data = False
        body: list[str] = []
        while line := self.rfile.readline().decode():
            if data:
                if line.rstrip("\r\n") == ".":
                    data = False
                    self.received.append("".join(body))
                    self.wfile.write(b"250 queued\r\n")
                else:
                    body.append(line)
                continue
            cmd = line[:4].upper()
            if cmd == "EHLO":
                self.wfile.write(b"250-test\r\n250 SIZE 100000\r\n")
            elif cmd == "DATA":
                data = True
                self.wfile.write(b"354 go on\r\n")
            elif cmd == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[str]]]:
    _Smtp.received = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], _Smtp.received
    finally:
        server.shutdown()
        server.server_close()


def test_failure_is_recorded_and_mailed_when_configured(
    env: Env, smtp_server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, received = smtp_server
    assert notify_failure("s", "b", environ={}) is False  # not configured: nothing sent
    monkeypatch.setenv("VESSEL_RISK_HOME", str(env.workspace.home))
    monkeypatch.setenv("VESSEL_RISK_DB_URL", str(env.engine.url))
    monkeypatch.setenv("VESSEL_RISK_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("VESSEL_RISK_FAILURE_EMAIL", "ops@example.org")
    task_failed("vessel_risk_daily", "features", "manual__1", date(2025, 11, 3),
                "ValueError: boom", "http://airflow/log")
    assert len(received) == 1
    assert "vessel_risk_daily.features failed for 2025-11-03" in received[0]
    assert "ops@example.org" in received[0] and "http://airflow/log" in received[0]
    failed = [r for r in recent_runs(env.engine) if r["status"] == "failed"]
    assert failed and failed[0]["stage"] == "features" and "boom" in failed[0]["message"]
    # a broken mail server never hides the failure itself
    monkeypatch.setenv("VESSEL_RISK_SMTP_URL", "smtp://127.0.0.1:1")
    task_failed("vessel_risk_daily", "score", "manual__2", None, "x", None)
    assert {r["stage"] for r in recent_runs(env.engine) if r["status"] == "failed"} >= \
        {"features", "score"}


def test_failure_callback_reads_task_and_day_from_the_airflow_context(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from pipeline.orchestration import failure_callback

    monkeypatch.setenv("VESSEL_RISK_HOME", str(env.workspace.home))
    monkeypatch.setenv("VESSEL_RISK_DB_URL", str(env.engine.url))
    monkeypatch.delenv("VESSEL_RISK_SMTP_URL", raising=False)
    context = {"ti": SimpleNamespace(task_id="alert", log_url=None),
               "dag_run": SimpleNamespace(dag_id="vessel_risk_daily", run_id="manual__9"),
               "params": {"date": "2025-11-04"}, "exception": ValueError("store down")}
    failure_callback(context)
    failure_callback({**context, "params": {"date": "not a date"}})  # still recorded
    failed = [r for r in recent_runs(env.engine) if r["status"] == "failed"]
    assert [(r["stage"], r["date"]) for r in failed] == [("alert", None), ("alert", "2025-11-04")]
    assert all("store down" in r["message"] for r in failed)


def test_ensure_app_database_creates_and_migrates_once() -> None:
    from sqlalchemy import create_engine, inspect, text

    from tests.dbfixtures import PG_ADMIN_URL, pg_database

    with pg_database("vr_ensure") as url:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f'DROP DATABASE "{name}"'))  # the deployment starts without it
        shown = ensure_app_database(url)
        assert name in shown
        assert ensure_app_database(url) == shown  # safe at every start
        tables = set(inspect(create_engine(url)).get_table_names())
        assert {"alerts", "runs", "watchlist", "users"} <= tables
    with pytest.raises(UserError, match="letters, digits"):
        ensure_app_database("postgresql+psycopg2://postgres@127.0.0.1:5432/bad-name;")


def test_incident_reports_are_linked_to_vessels_after_their_ingest(
    env: Env, simulated: Simulated
) -> None:
    for kind, name in (("ais", f"positions_{simulated.days[0]}.nmea"),
                       ("incidents", "incidents.csv")):
        folder = env.workspace.landing / kind
        folder.mkdir(parents=True)
        shutil.copyfile(simulated.out / name, folder / name)
    run_ingest(env, "ais", simulated.days[0])
    first = run_ingest_incidents(env, simulated.days[0])
    matching = first["matching"]
    assert first["files"] == 1 and matching["matches"] >= 1
    lake = Lake(env.workspace.lake)
    got = sum(lake.read("incident_matches", date.fromisoformat(d)).num_rows
              for d in matching["days"])
    assert got == matching["matches"]
    again = run_ingest_incidents(env, simulated.days[0])  # nothing new: nothing matched again
    assert again["files"] == 0 and "matching" not in again
