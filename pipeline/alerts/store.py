"""The alert store: ORM tables, the engine, migrations at open, sessions and run records.

One relational database holds what analysts work on (alerts, their evidence, notes,
dispositions), the watchlist, users, the audit log and one row per stage run. The lake stays
the source of the data; the store holds decisions about it. SQLite in the workspace is the
embedded default, PostgreSQL the production database; the same Alembic migrations (shipped in
``pipeline/alerts/migrations``) build both and run every time a store is opened, so an
upgraded package upgrades its database on first use.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from pipeline.errors import UserError

ENV_DB_URL = "VESSEL_RISK_DB_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

ALERT_STATUSES = ("new", "in_review", "escalated", "closed")
DISPOSITIONS = ("confirmed", "suspicious", "benign", "false_positive")
ROLES = ("analyst", "supervisor", "admin")
WATCHLIST_SOURCES = ("alert", "partner", "incident", "analyst")
# Traffic Light Protocol 2.0, least to most restricted (index = restriction level).
MARKINGS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
RUN_STATUSES = ("ok", "failed")


class StaleVersionError(UserError):
    """Someone else changed the record since it was read: the analyst must reload it."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back tz-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps tz-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class User(Base):
    """A person who signs in to the web app (auth logic: pipeline/web)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username", name="uq_users_username"),)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="analyst")  # analyst|supervisor|admin
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """One vessel-day put in front of an analyst: the score, why, and the analyst's work."""

    __tablename__ = "alerts"
    alert_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # hash(mmsi, date)
    date: Mapped[date] = mapped_column(Date, index=True)
    mmsi: Mapped[int] = mapped_column(BigInteger, index=True)
    rank: Mapped[int] = mapped_column(Integer)  # 1 = first on the day's list
    score: Mapped[float] = mapped_column(Float)
    model_id: Mapped[str] = mapped_column(String(128))
    region: Mapped[str | None] = mapped_column(String(64))
    reason_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str | None] = mapped_column(String(128))  # AIS text: untrusted
    imo: Mapped[int | None] = mapped_column(BigInteger)
    call_sign: Mapped[str | None] = mapped_column(String(32))
    flag: Mapped[str | None] = mapped_column(String(8))
    departure_zone: Mapped[str | None] = mapped_column(String(128))
    watchlist_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    watchlist_entry_id: Mapped[str | None] = mapped_column(String(32))
    evidence_strength: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    disposition: Mapped[str | None] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(64))
    analyst: Mapped[str | None] = mapped_column(String(64))  # who last changed status/disposition
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic lock
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {c: _plain(getattr(self, c)) for c in ALERT_COLUMNS}


class AlertEvidence(Base):
    """A lake/events row that supports an alert (copied so the alert survives lake reruns)."""

    __tablename__ = "alert_evidence"
    __table_args__ = (UniqueConstraint("alert_id", "event_id", name="uq_alert_evidence_event"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alerts.alert_id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    start_time: Mapped[datetime] = mapped_column()
    end_time: Mapped[datetime] = mapped_column()
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    zone_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def as_dict(self) -> dict[str, Any]:
        return {c: _plain(getattr(self, c)) for c in EVIDENCE_COLUMNS}


class Disposition(Base):
    """One analyst decision on an alert (history: a reopened and re-closed alert has two)."""

    __tablename__ = "dispositions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alerts.alert_id", ondelete="CASCADE"), index=True
    )
    mmsi: Mapped[int] = mapped_column(BigInteger, index=True)
    date: Mapped[date] = mapped_column(Date, index=True)
    disposition: Mapped[str] = mapped_column(String(16))
    analyst: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class Note(Base):
    """Free text an analyst attached to an alert."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("alerts.alert_id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(Text)


class WatchlistEntry(Base):
    """A vessel of interest, keyed by identity so that a changed MMSI is still recognised."""

    __tablename__ = "watchlist"
    entry_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # hash of the identity
    mmsi: Mapped[int | None] = mapped_column(BigInteger, index=True)
    imo: Mapped[int | None] = mapped_column(BigInteger, index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    call_sign: Mapped[str | None] = mapped_column(String(32))
    name_key: Mapped[str | None] = mapped_column(String(128), index=True)  # normalised for matching
    call_sign_key: Mapped[str | None] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # alert|partner|incident|analyst
    source_ref: Mapped[str | None] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(64))
    marking: Mapped[str] = mapped_column(String(20), default="TLP:AMBER")
    provenance: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    expired: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)

    def as_dict(self) -> dict[str, Any]:
        return {c: _plain(getattr(self, c)) for c in WATCHLIST_COLUMNS}


class AuditEntry(Base):
    """Who changed what, when, with the record before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def as_dict(self) -> dict[str, Any]:
        return {c: _plain(getattr(self, c)) for c in
                ("id", "at", "actor", "action", "entity_type", "entity_id", "before", "after")}


class Run(Base):
    """One run of one stage for one day (shown on the web app's run-health page)."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_stage_date", "stage", "date"),)
    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))
    date: Mapped[date | None] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # ok|failed
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)

    def as_dict(self) -> dict[str, Any]:
        return {c: _plain(getattr(self, c)) for c in
                ("run_id", "stage", "date", "started_at", "finished_at", "status", "counts",
                 "message")}


ALERT_COLUMNS = tuple(c.name for c in Alert.__table__.columns)
EVIDENCE_COLUMNS = tuple(c.name for c in AlertEvidence.__table__.columns if c.name != "id")
WATCHLIST_COLUMNS = tuple(c.name for c in WatchlistEntry.__table__.columns)


def _plain(value: Any) -> Any:
    """JSON-friendly value: dates and times as ISO text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def stable_id(*parts: object, length: int = 16) -> str:
    """Deterministic hex id from content (never a counter or the clock)."""
    raw = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:length]


# --------------------------------------------------------------------------- engine


def database_url(settings: Any, workspace: Any) -> str:
    """``$VESSEL_RISK_DB_URL``, else a configured ``database.url``, else SQLite in the workspace.

    load_settings fills ``database.url`` with a SQLite file under ``workspace.home`` when the
    file leaves it null; that filled-in default is replaced by the workspace actually in use
    (``--home``), so one workspace always means one database.
    """
    env = os.environ.get(ENV_DB_URL)
    if env:
        return env
    from pipeline.config import SQLITE_FILE

    url = settings.database.url
    filled_default = f"sqlite:///{Path(settings.workspace.home) / SQLITE_FILE}"
    if url and (url != filled_default or workspace is None):
        return str(url)
    return f"sqlite:///{Path(workspace.database_path)}"


_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()
_PG_MIGRATION_LOCK = 0x76_72_69_73  # pg_advisory_xact_lock key: one migrator at a time


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def open_store(url: str) -> Engine:
    """Engine for ``url`` with the schema upgraded to the latest migration (once per process).

    Raises UserError with the URL (password hidden) when the database cannot be reached.
    """
    with _LOCK:
        if url in _ENGINES:
            return _ENGINES[url]
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"future": True}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        try:
            upgrade(engine)
        except Exception as exc:  # connection refused, no such database, permissions ...
            engine.dispose()
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                shown = parsed.render_as_string(hide_password=True)
                raise UserError(
                    f"cannot open the alert store at {shown}: {exc.orig}. Check database.url "
                    f"in config/settings.yaml or ${ENV_DB_URL}."
                ) from exc
            raise
        _ENGINES[url] = engine
        return engine


def close_store(url: str) -> None:
    """Dispose of a cached engine (tests drop their database afterwards)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def alembic_config(connection: Any = None) -> Any:
    """Alembic configuration built in code (no alembic.ini): the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (PostgreSQL: under an advisory lock so that
    workers opening the store together do not race)."""
    from alembic import command

    with _sqlite_file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), revision)


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """SQLite runs DDL outside a locking transaction: processes opening a new store file at
    the same moment (CLI, web app) take turns through a lock file next to it."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back when it raises."""
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def record_run(
    engine: Engine,
    stage: str,
    day: date | None,
    status: str,
    counts: Mapping[str, Any] | None = None,
    message: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> str:
    """Store one stage run; returns its id (hash of stage, day and start time)."""
    if status not in RUN_STATUSES:
        raise ValueError(f"run status {status!r}: expected one of {RUN_STATUSES}")
    finished = finished_at or utcnow()
    started = started_at or finished
    run_id = stable_id(stage, day, started.isoformat(), length=24)
    with session_scope(engine) as s:
        s.merge(Run(run_id=run_id, stage=stage, date=day, started_at=started,
                    finished_at=finished, status=status, counts=dict(counts or {}),
                    message=message))
    return run_id
