"""Database fixtures for every test that needs the alert store, on SQLite and PostgreSQL.

Import them into a conftest.py::

    from tests.dbfixtures import pg_session_url, store, store_url  # noqa: F401

``store_url`` is parametrised: each test using it runs twice, once on a fresh SQLite file and
once on PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth). PostgreSQL gets one freshly
created, uniquely named database per test session, dropped at the end; tables are emptied
before each test. ``pg_database(prefix)`` creates and drops a database of your own (e.g. for
Airflow's metadata). Set $VESSEL_RISK_TEST_PG_ADMIN_URL to use another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from pipeline.alerts.store import Base, close_store, open_store

PG_ADMIN_URL = os.environ.get(
    "VESSEL_RISK_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def pg_database(prefix: str = "vr_test") -> Iterator[str]:
    """A new PostgreSQL database with a unique name; dropped (connections forced out) after."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # server down: say so instead of a wall of traceback
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is needed for the database tests: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        close_store(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """URL of this test session's PostgreSQL database (created once, dropped at the end)."""
    with pg_database() as url:
        yield url


def _empty_tables(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated alert store: a new SQLite file, or the session's PostgreSQL
    database with every table emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    url: str = request.getfixturevalue("pg_session_url")
    _empty_tables(open_store(url))
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """The migrated engine of ``store_url``."""
    engine = open_store(store_url)
    yield engine
    if engine.dialect.name == "sqlite":
        close_store(store_url)
