"""The store itself: migrations build exactly the ORM schema on both databases, times come
back tz-aware, runs are recorded, the URL follows the workspace, errors are readable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from pipeline.alerts.queries import recent_runs
from pipeline.alerts.store import (
    MIGRATIONS_DIR,
    Base,
    Run,
    current_revision,
    database_url,
    open_store,
    record_run,
    session_scope,
)
from pipeline.config import load_settings
from pipeline.errors import UserError
from pipeline.workspace import Workspace


def test_migrations_match_the_models(store: Engine) -> None:
    assert current_revision(store) == "0001"
    with store.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []


def test_open_twice_is_harmless_and_packaged(store_url: str) -> None:
    assert open_store(store_url) is open_store(store_url)
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))[0].startswith("0001")


def test_runs_round_trip_with_utc_times(store: Engine) -> None:
    start = datetime(2024, 11, 21, 1, 2, 3, tzinfo=UTC)
    end = datetime(2024, 11, 21, 1, 5, 0, tzinfo=UTC)
    rid = record_run(store, "detect", date(2024, 11, 20), "ok", {"events": 12}, None, start, end)
    again = record_run(store, "detect", date(2024, 11, 20), "ok", {"events": 12}, None, start,
                       end)
    assert rid == again  # the same run recorded twice is one row
    record_run(store, "score", date(2024, 11, 20), "failed", {}, "no features", start, end)
    runs = recent_runs(store)
    assert len(runs) == 2
    with session_scope(store) as s:
        row = s.get(Run, rid)
        assert row is not None and row.started_at == start and row.started_at.tzinfo is not None
    assert [r["stage"] for r in recent_runs(store, stage="score")] == ["score"]
    with pytest.raises(ValueError, match="run status"):
        record_run(store, "score", None, "maybe")


def test_naive_times_are_refused(store: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(store) as s:
        s.add(Run(run_id="x", stage="x", date=None, started_at=datetime(2024, 1, 1),
                  status="ok", counts={}))


def test_database_url_follows_the_workspace(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VESSEL_RISK_DB_URL", raising=False)
    settings = load_settings(env={})
    ws = Workspace.resolve(tmp_path / "home")
    assert database_url(settings, ws) == f"sqlite:///{ws.database_path}"
    configured = load_settings(env={"VESSEL_RISK_DB_URL": "postgresql://u@h/vr"})
    assert database_url(configured, ws) == "postgresql://u@h/vr"
    monkeypatch.setenv("VESSEL_RISK_DB_URL", "sqlite:////tmp/elsewhere.db")
    assert database_url(settings, ws) == "sqlite:////tmp/elsewhere.db"


def test_unreachable_database_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"cannot open the alert store at "
                                        r"postgresql\+psycopg2://postgres:\*\*\*@127.0.0.1:1/x"):
        open_store("postgresql+psycopg2://postgres:secret@127.0.0.1:1/x")


def test_downgrade_and_upgrade_again(store: Engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from pipeline.alerts.store import alembic_config, upgrade

    with store.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(store).get_table_names()) <= {"alembic_version"}
    upgrade(store)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(store).get_table_names())
    assert current_revision(store) == "0001"


def test_processes_opening_a_new_sqlite_store_together(tmp_path: Path) -> None:
    """Four processes open the same new SQLite file at once: every one succeeds."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    code = ("import sys; from pipeline.alerts.store import open_store, current_revision; "
            "print(current_revision(open_store(sys.argv[1])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    assert [o.strip() for o, _ in outs] == ["0001"] * 4
