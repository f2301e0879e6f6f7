"""The stage runs the Airflow tasks and ``vessel-risk demo`` call: typed, recorded, idempotent.

A DAG task is one line calling a function here; the demo calls the same functions in a loop.
Each function opens the workspace, the lake and the alert store from the settings, runs one
stage for one UTC day, records the run (``runs`` table: ok with its counts, or failed with the
error) and returns a small JSON-able dict (what a task pushes to XCom).

Landing (``<home>/landing/{ais,port_calls,incidents}/``): which files does a run take?
A file's partition dates are what it *contains* (the row timestamps), never its name or its
modification time. A run ingests every landed file whose content it has not ingested before:
the ledger ``<home>/landing/.ingested/<kind>/<sha256>.json`` records each ingested content
with the days it touched. So a file that lands late, early or twice is taken exactly once,
a retried or re-run task finds nothing new and changes nothing, and a backfill of old days
does not depend on when files arrived. ``reingest=True`` (the DAG param) takes again the
files whose rows touch the run's day (after a fix to the ingest rules, say); ingest replaces
rows by file content, so that never duplicates either. Writers should land a file under a
temporary name (a leading dot, or ``.part``/``.tmp``) and rename it when complete; such names
are skipped. A date in the file name (``YYYY-MM-DD``) is only used as the default day of NMEA
sentences that carry no time of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import smtplib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.workspace import Workspace

LANDING_KINDS = ("ais", "port_calls", "incidents")
LEDGER = ".ingested"
SKIPPED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
_NAME_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# environment of the deployment (docker-compose.yml / the operator's shell)
ENV_SHARDS = "VESSEL_RISK_DETECT_SHARDS"
ENV_SMTP_URL = "VESSEL_RISK_SMTP_URL"  # smtp://user:password@host:587 (smtps:// for TLS)
ENV_FAILURE_EMAIL = "VESSEL_RISK_FAILURE_EMAIL"  # comma-separated recipients
ENV_SMTP_FROM = "VESSEL_RISK_SMTP_FROM"
DEFAULT_SHARDS = 2


# --------------------------------------------------------------------------- common pieces


@dataclass
class Env:
    """Settings, workspace, lake and alert store of one stage run."""

    settings: Settings
    workspace: Workspace
    _engine: Any = None

    @classmethod
    def load(cls, settings: Settings | None = None, workspace: Workspace | None = None) -> Env:
        """From the arguments, else ``$VESSEL_RISK_CONFIG``/``$VESSEL_RISK_HOME`` (what a worker
        has), else the repo's config and the settings' workspace."""
        from pipeline.config import load_settings

        settings = settings or load_settings()
        if workspace is None:
            home = os.environ.get("VESSEL_RISK_HOME") or settings.workspace.home
            workspace = Workspace.resolve(home)
        return cls(settings, workspace)

    @property
    def lake(self) -> Any:
        from pipeline.lake import Lake

        return Lake(self.workspace.lake)

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from pipeline.alerts.store import database_url, open_store

            self._engine = open_store(database_url(self.settings, self.workspace))
        return self._engine


def partition_day(interval_start: datetime | None, requested: str | date | None = None) -> date:
    """The UTC day a daily run processes: the ``date`` param of a manual rerun when given,
    else the start of the run's data interval. Never the clock: a run that has neither (an
    asset-triggered run) is refused with a message saying what to pass."""
    if requested:
        if isinstance(requested, date):
            return requested
        try:
            return date.fromisoformat(str(requested).strip())
        except ValueError as exc:
            raise UserError(f"date param {requested!r}: expected YYYY-MM-DD") from exc
    if interval_start is None:
        raise UserError("this run has no data interval: trigger it with the param date=YYYY-MM-DD")
    if interval_start.tzinfo is not None:
        interval_start = interval_start.astimezone(UTC)
    return interval_start.date()


def run_day_or_none(interval_start: datetime | None, requested: str | None = None
                    ) -> date | None:
    """Like ``partition_day``, but ``None`` instead of an error (ingest runs need no day)."""
    if not requested and interval_start is None:
        return None
    return partition_day(interval_start, requested)


def shard_count(requested: int | str | None = None) -> int:
    """Detect shards of a daily run: the run's param, else ``$VESSEL_RISK_DETECT_SHARDS``,
    else 2. More Celery workers → raise it; the result is the same for any count."""
    value = requested if requested not in (None, "") else os.environ.get(ENV_SHARDS, DEFAULT_SHARDS)
    try:
        n = int(value)
    except (TypeError, ValueError) as exc:
        raise UserError(f"shards {value!r}: expected a whole number ≥ 1") from exc
    if n < 1:
        raise UserError(f"shards {n}: expected a whole number ≥ 1")
    return n


def _counts(result: Any) -> dict[str, Any]:
    """JSON-able summary of a stage's return value."""
    if result is None:
        return {}
    if hasattr(result, "as_dict"):
        out = result.as_dict()
    elif isinstance(result, Mapping):
        out = dict(result)
    else:
        out = {"result": str(result)}
    return json.loads(json.dumps(out, default=str))


@contextmanager
def recorded(env: Env, stage: str, day: date | None) -> Iterator[dict[str, Any]]:
    """Record a stage run in the ``runs`` table: ok with the counts the block puts in the
    yielded dict, or failed with the error (which is re-raised)."""
    from pipeline.alerts.store import record_run, utcnow

    started = utcnow()
    counts: dict[str, Any] = {}
    try:
        yield counts
    except BaseException as exc:
        record_run(env.engine, stage, day, "failed", counts, f"{type(exc).__name__}: {exc}",
                   started_at=started)
        raise
    record_run(env.engine, stage, day, "ok", counts, None, started_at=started)


def _run(env: Env, stage: str, day: date | None, fn: Callable[[], Any], record: bool = True
         ) -> dict[str, Any]:
    """Run a stage, time it and (unless the stage records its own runs) record it."""
    t0 = time.perf_counter()
    if not record:
        counts = _counts(fn())
        counts["seconds"] = round(time.perf_counter() - t0, 3)
        return counts
    with recorded(env, stage, day) as counts:
        counts.update(_counts(fn()))
        counts["seconds"] = round(time.perf_counter() - t0, 3)
    return counts


# --------------------------------------------------------------------------- landing → lake


@dataclass
class LandedSummary:
    """What one ingest run took from a landing folder."""

    kind: str
    day: date | None
    pending: list[str] = field(default_factory=list)  # files taken, relative to the folder
    skipped: int = 0  # landed files ingested before
    failed: dict[str, str] = field(default_factory=dict)  # file -> error
    days: list[str] = field(default_factory=list)  # partition days the files touched
    totals: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "date": self.day.isoformat() if self.day else None,
                "files": len(self.pending), "already_ingested": self.skipped,
                "failed": self.failed, "days": self.days, "totals": self.totals,
                "file_names": self.pending}


def landing_dir(workspace: Workspace, kind: str) -> Path:
    if kind not in LANDING_KINDS:
        raise UserError(f"unknown landing kind {kind!r}; known: {', '.join(LANDING_KINDS)}")
    return workspace.landing / kind


def landed_files(workspace: Workspace, kind: str) -> list[Path]:
    """Complete files under ``landing/<kind>/`` (recursively, sorted; hidden names and
    temporary upload names skipped)."""
    root = landing_dir(workspace, kind)
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel) or p.name.endswith(SKIPPED_SUFFIXES):
            continue
        if p.is_file():
            out.append(p)
    return out


def content_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ledger_dir(workspace: Workspace, kind: str) -> Path:
    return workspace.landing / LEDGER / kind


def _read_ledger(workspace: Workspace, kind: str, digest: str) -> dict[str, Any] | None:
    path = _ledger_dir(workspace, kind) / f"{digest}.json"
    if not path.is_file():
        return None
    entry: dict[str, Any] = json.loads(path.read_text())
    return entry


def _write_ledger(workspace: Workspace, kind: str, digest: str, entry: dict[str, Any]) -> None:
    directory = _ledger_dir(workspace, kind)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{digest}.tmp"
    tmp.write_text(json.dumps(entry, indent=1, sort_keys=True, default=str))
    tmp.replace(directory / f"{digest}.json")


def _name_date(path: Path) -> date | None:
    m = _NAME_DATE.search(path.name)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _days_between(start: str | None, end: str | None) -> list[str]:
    if not start or not end:
        return []
    d0, d1 = datetime.fromisoformat(start).date(), datetime.fromisoformat(end).date()
    return [(d0 + timedelta(days=i)).isoformat() for i in range((d1 - d0).days + 1)]


def _ingest_paths(env: Env, kind: str, paths: list[Path], default_date: date | None) -> Any:
    s = env.settings
    if kind == "ais":
        from pipeline.ingest.ais import ZdaClock, ingest_ais
        from pipeline.ingest.csv_ais import layout_from_mapping

        layouts = tuple(layout_from_mapping(n, dict(m)) for n, m in s.ingest.csv_mappings.items())
        return ingest_ais(paths, env.lake, default_date=default_date,
                          tolerance_h=s.ingest.future_timestamp_tolerance_h, layouts=layouts,
                          max_raw_chars=s.ingest.max_raw_chars,
                          zda_clock=ZdaClock(s.ingest.nmea_zda_clock_max_gap_s,
                                             s.ingest.nmea_zda_clock_max_lines))
    if kind == "port_calls":
        from pipeline.ingest.port_calls import ingest_port_calls

        return ingest_port_calls(paths, env.lake, s.resolve_port_call, s.ingest.max_raw_chars)
    from pipeline.ingest.incidents import ingest_incidents

    return ingest_incidents(paths, env.lake, s.ingest.max_raw_chars)


def _file_summaries(summary: Any, path: Path) -> list[dict[str, Any]]:
    """The per-file summaries that belong to ``path`` (an archive gives one per member)."""
    return [f.as_dict() for f in summary.files
            if f.file == path.name or f.file.startswith(f"{path.name}:")
            or f.file.startswith(f"{path.name}/")]


def ingest_landed(env: Env, kind: str, day: date | None = None, reingest: bool = False
                  ) -> LandedSummary:
    """Ingest the files of ``landing/<kind>/`` not ingested before (see the module docstring);
    with ``reingest``, also those whose rows touch ``day``. Files that fail are recorded in
    the ledger with their error (not retried until their content changes) and reported."""
    out = LandedSummary(kind, day)
    root = landing_dir(env.workspace, kind)
    todo: dict[date | None, list[tuple[Path, str]]] = {}
    for path in landed_files(env.workspace, kind):
        digest = content_hash(path)
        entry = _read_ledger(env.workspace, kind, digest)
        again = reingest and entry is not None and day is not None and \
            day.isoformat() in entry.get("days", [])
        if entry is not None and not again:
            out.skipped += 1
            continue
        key = _name_date(path) if kind == "ais" else None
        todo.setdefault(key, []).append((path, digest))
    touched: set[str] = set()
    totals: dict[str, int] = {}
    for default_date, group in sorted(todo.items(), key=lambda kv: str(kv[0])):
        summary = _ingest_paths(env, kind, [p for p, _ in group], default_date)
        for k, v in summary.as_dict()["totals"].items():
            totals[k] = totals.get(k, 0) + int(v)
        for path, digest in group:
            files = _file_summaries(summary, path)
            errors = [f["error"] for f in files if f.get("error")]
            days = sorted({d for f in files for d in _days_between(f.get("start"), f.get("end"))})
            rel = str(path.relative_to(root))
            out.pending.append(rel)
            if errors:
                out.failed[rel] = "; ".join(errors)
            touched.update(days)
            _write_ledger(env.workspace, kind, digest, {
                "file": rel, "sha256": digest, "status": "failed" if errors else "ok",
                "errors": errors, "days": days, "summaries": files})
    out.days = sorted(touched)
    out.totals = totals
    return out


def run_ingest(env: Env, kind: str, day: date | None = None, reingest: bool = False
               ) -> dict[str, Any]:
    """``ingest_landed`` recorded as an ``ingest`` run; raises (after recording) when a
    landed file could not be read, naming the file and what is wrong with it."""
    t0 = time.perf_counter()
    with recorded(env, "ingest", day) as counts:  # recorded as failed when a file failed
        counts.update(_counts(ingest_landed(env, kind, day, reingest)))
        counts["seconds"] = round(time.perf_counter() - t0, 3)
        if counts.get("failed"):
            names = "; ".join(f"{k}: {v}" for k, v in counts["failed"].items())
            raise UserError(f"{len(counts['failed'])} landed {kind} file(s) could not be "
                            f"ingested ({names}); fix or replace them (a changed file is taken "
                            "again)")
    return counts


def run_match_incidents(env: Env, start: date, end: date) -> dict[str, Any]:
    """Link the incident reports dated in [start, end] to vessels (``lake/incident_matches``,
    partitions replaced): after an incidents ingest for the days it touched, and before a
    retrain for its window (positions that arrived since may match more reports)."""
    from pipeline.labels.incidents import match_incidents, write_matches

    def match() -> dict[str, Any]:
        matches = match_incidents(env.lake, env.settings, start, end)
        methods = matches.column("match_method").to_pylist()
        return {"start": start.isoformat(), "end": end.isoformat(),
                "matches": matches.num_rows, "unmatched": methods.count("unmatched"),
                "days": write_matches(env.lake, matches, start, end)}

    return _run(env, "labels", end, match)


def run_ingest_incidents(env: Env, day: date | None = None, reingest: bool = False
                         ) -> dict[str, Any]:
    """``incidents_ingest``: ingest the new report files, then match the reports of the days
    they touched to vessels."""
    result = run_ingest(env, "incidents", day, reingest)
    days = [date.fromisoformat(d) for d in result.get("days", [])]
    if days:
        result["matching"] = run_match_incidents(env, min(days), max(days))
    return result


# --------------------------------------------------------------------------- daily stages


def run_detect_shard(env: Env, day: date, shard: int, n_shards: int) -> dict[str, Any]:
    """One mapped detect task: shard ``shard`` of ``n_shards`` into staging."""
    from pipeline.events.detect import detect_shard

    return _run(env, "detect_shard", day,
                lambda: detect_shard(env.lake, env.settings, day, shard, n_shards))


def run_merge_detect(env: Env, day: date, n_shards: int) -> dict[str, Any]:
    """The merge after the mapped shards: the events partition of ``day``."""
    from pipeline.events.detect import merge_detect

    return _run(env, "detect", day, lambda: merge_detect(env.lake, env.settings, day, n_shards))


def run_detect(env: Env, day: date, n_shards: int = 1) -> dict[str, Any]:
    """Detect in this process (the demo, the CLI): same result as shards + merge."""
    from pipeline.events.detect import detect_day

    return _run(env, "detect", day, lambda: detect_day(env.lake, env.settings, day, n_shards))


def run_features(env: Env, day: date) -> dict[str, Any]:
    from pipeline.features import features_day

    return _run(env, "features", day, lambda: features_day(env.lake, env.settings, day))


def run_score(env: Env, day: date) -> dict[str, Any]:
    from pipeline.scoring.score import score_day

    return _run(env, "score", day, lambda: score_day(env.lake, env.settings, day))


def run_alert(env: Env, day: date) -> dict[str, Any]:
    from pipeline.alerts.alerting import alert_day

    # alert_day records its own run (ok or failed) in the runs table
    return _run(env, "alert", day, lambda: alert_day(env.lake, env.settings, env.engine, day),
                record=False)


def run_report(env: Env, day: date) -> dict[str, Any]:
    from pipeline.alerts.report import write_report

    # write_report records its own run (ok or failed) in the runs table
    return _run(env, "report", day, lambda: write_report(env.lake, env.settings, env.engine,
                                                         env.workspace, day), record=False)


DAILY_STAGES: tuple[tuple[str, Callable[[Env, date], dict[str, Any]]], ...] = (
    ("features", run_features), ("score", run_score), ("alert", run_alert),
    ("report", run_report),
)


def run_day(env: Env, day: date, n_shards: int = 1) -> dict[str, dict[str, Any]]:
    """Every daily stage of ``day`` in order, in this process (what ``vessel_risk_daily``
    does across workers): detect → features → score → alert → report."""
    out = {"detect": run_detect(env, day, n_shards)}
    for name, fn in DAILY_STAGES:
        out[name] = fn(env, day)
    return out


# --------------------------------------------------------------------------- failures


def record_failure(env: Env, stage: str, day: date | None, message: str) -> None:
    """Record a failed task in the ``runs`` table (the DAGs' failure callback)."""
    from pipeline.alerts.store import record_run

    record_run(env.engine, stage, day, "failed", {}, message)


def notify_failure(subject: str, body: str, environ: Mapping[str, str] | None = None) -> bool:
    """Mail the failure when ``$VESSEL_RISK_SMTP_URL`` and ``$VESSEL_RISK_FAILURE_EMAIL`` are
    set; returns whether a mail was sent. Plain SMTP with STARTTLS when the server offers
    it; ``smtps://`` for implicit TLS."""
    environ = os.environ if environ is None else environ
    url, rcpt = environ.get(ENV_SMTP_URL), environ.get(ENV_FAILURE_EMAIL)
    if not url or not rcpt:
        return False
    u = urlparse(url)
    if u.scheme not in ("smtp", "smtps") or not u.hostname:
        raise UserError(f"${ENV_SMTP_URL}: expected smtp://[user:password@]host[:port]")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = environ.get(ENV_SMTP_FROM, "vessel-risk@localhost")
    msg["To"] = rcpt
    msg.set_content(body)
    cls = smtplib.SMTP_SSL if u.scheme == "smtps" else smtplib.SMTP
    with cls(u.hostname, u.port or (465 if u.scheme == "smtps" else 25), timeout=30) as smtp:
        if u.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
        if u.username:
            smtp.login(unquote(u.username), unquote(u.password or ""))
        smtp.send_message(msg)
    return True


def failure_callback(context: Mapping[str, Any], with_day: bool = True) -> None:
    """The DAGs' ``on_failure_callback``: the failed task, its run and (for day-partitioned
    DAGs) its partition day out of Airflow's context, then ``task_failed``."""
    ti, run = context.get("ti"), context.get("dag_run")
    day = None
    if with_day:
        try:
            day = run_day_or_none(context.get("data_interval_start"),
                                  (context.get("params") or {}).get("date"))
        except Exception:  # an unparsable param must not hide the original failure
            day = None
    task_failed(getattr(run, "dag_id", "?"), getattr(ti, "task_id", "?"),
                getattr(run, "run_id", "?"), day, str(context.get("exception")),
                getattr(ti, "log_url", None))


def task_failed(dag_id: str, task_id: str, run_id: str, day: date | None, error: str,
                log_url: str | None = None) -> None:
    """What the DAGs' ``on_failure_callback`` does: record, then mail when configured.
    Never raises (a broken mail server must not hide the original failure)."""
    import logging

    log = logging.getLogger(__name__)
    message = f"{dag_id}.{task_id} ({run_id}) failed: {error}"
    try:
        record_failure(Env.load(), task_id.split(".")[-1][:32], day, message)
    except Exception:  # the store itself may be what failed
        log.exception("could not record the failure in the runs table")
    try:
        notify_failure(f"[vessel-risk] {dag_id}.{task_id} failed for {day or run_id}",
                       f"{message}\n\nlog: {log_url or '-'}\n")
    except Exception:
        log.exception("could not send the failure mail")


# --------------------------------------------------------------------------- model retrain


def training_window(end: date, days: int) -> tuple[date, date]:
    """The ``days`` UTC days ending with ``end`` (inclusive)."""
    if days < 2:
        raise UserError(f"training days {days}: need at least 2")
    return end - timedelta(days=days - 1), end


def ground_truth_dirs(workspace: Workspace) -> list[Path]:
    """Simulator output folders of the workspace (``ground_truth/`` inside): the landing
    area and ``simulated/*`` (where ``vessel-risk demo`` keeps its week)."""
    candidates = [workspace.landing, *sorted((workspace.home / "simulated").glob("*"))]
    return [d for d in candidates if (d / "ground_truth").is_dir()]


def _data_spec(env: Env, start: date, end: date) -> Any:
    """Training data of the window: the lake's features, labels from the configured sources
    (dispositions in the app database, matched incidents, and for a simulated workspace the
    simulator's ground truth)."""
    from pipeline.scoring.lifecycle import DataSpec

    sources: list[str] = list(env.settings.scoring.training.label_sources)
    truth = ground_truth_dirs(env.workspace) if "simulator" in sources else []
    return DataSpec(lakes=[env.lake], start=start, end=end, label_sources=sources,
                    ground_truth=truth, engine=env.engine)


def run_training_set(env: Env, start: date, end: date) -> dict[str, Any]:
    """The labelled vessel-days of the window (counts, label sources, data hash): what the
    next task will train on, with the incident matches of the window refreshed first. Fails
    with what to do when the window has no features."""
    from pipeline.scoring.lifecycle import labelled

    if "incident" in env.settings.scoring.training.label_sources:
        run_match_incidents(env, start, end)
    data = labelled(_data_spec(env, start, end), env.settings)
    lo, hi = data.window
    return {"window": [str(lo), str(hi)], "counts": data.counts(), "data_hash": data.hash(),
            "label_sources": list(env.settings.scoring.training.label_sources)}


def run_train(env: Env, start: date, end: date) -> dict[str, Any]:
    """Train the challenger, evaluate it on the held-out split against the rules and the
    champion (same rows), register it with its metadata, plots and model card."""
    from pipeline.scoring.lifecycle import train_and_register
    from pipeline.scoring.registry import CARD_FILE, models_dir

    root = models_dir(env.settings)
    result = train_and_register(env.settings, _data_spec(env, start, end), root)
    out = _counts(result)
    out["model_card"] = str(result.folder / CARD_FILE)
    out["plots"] = sorted(str(p) for p in result.folder.glob("*.png"))
    return out


def run_evaluate(env: Env, model_id: str) -> dict[str, Any]:
    """The registered held-out evaluation of ``model_id`` (what the promotion gate reads)
    and whether it meets the quality target."""
    from pipeline.scoring.lifecycle import quality_target
    from pipeline.scoring.registry import CARD_FILE, models_dir, read_metadata

    root = models_dir(env.settings)
    meta = read_metadata(root, model_id)
    evaluation = meta.get("evaluation", {})
    return {"model_id": model_id, "comparison": evaluation.get("comparison", {}),
            "models": evaluation.get("models", {}),
            "quality_target": quality_target(evaluation) if "models" in evaluation else None,
            "model_card": str(root / model_id / CARD_FILE),
            "plots": sorted(str(p) for p in (root / model_id).glob("*.png"))}


def run_promote(env: Env, model_id: str) -> dict[str, Any]:
    """Promote through the gate only (never forced): the new champion's history entry, or
    why the gate kept the current champion. A refusal is an outcome, not a failure."""
    from pipeline.scoring.registry import models_dir, promote

    margin = env.settings.scoring.training.promotion_margin
    try:
        entry = promote(models_dir(env.settings), model_id, margin)
    except UserError as exc:
        return {"model_id": model_id, "promoted": False, "why": str(exc)}
    return {"model_id": model_id, "promoted": True, **_counts(entry)}


# --------------------------------------------------------------------------- deployment


_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def ensure_app_database(url: str | None = None) -> str:
    """Create the app database on its PostgreSQL server when it is missing (the deployment's
    init step; Airflow's metadata lives in another database of the same server), then bring
    its schema to the latest migration. Safe to run at every start. Returns the URL with the
    password hidden."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from pipeline.alerts.store import database_url, open_store

    if url is None:
        env = Env.load()
        url = database_url(env.settings, env.workspace)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        name = parsed.database or ""
        if not _DB_NAME.match(name):
            raise UserError(f"app database name {name!r}: use letters, digits and _ only")
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                      {"n": name}).scalar()
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
    open_store(url)
    return parsed.render_as_string(hide_password=True)
