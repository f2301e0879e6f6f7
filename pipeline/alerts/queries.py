"""Read helpers shared by the CLI, the daily report and the web app: plain dicts, no ORM
objects leak out, so callers never hold a session or write SQL of their own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, or_, select

from pipeline.alerts.store import (
    Alert,
    AlertEvidence,
    AuditEntry,
    Disposition,
    Note,
    Run,
    WatchlistEntry,
    _plain,
    session_scope,
    utcnow,
)


def alerts_for_day(engine: Engine, day: date, status: str | None = None) -> list[dict[str, Any]]:
    """The day's alerts in list order (rank; watchlist hits ranked after the scored list)."""
    with session_scope(engine) as s:
        q = select(Alert).where(Alert.date == day)
        if status:
            q = q.where(Alert.status == status)
        rows = s.scalars(q.order_by(Alert.rank, Alert.mmsi)).all()
        return [a.as_dict() for a in rows]


def evidence_for(engine: Engine, alert_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Evidence rows of several alerts at once, by alert id, in time order."""
    out: dict[str, list[dict[str, Any]]] = {a: [] for a in alert_ids}
    if not alert_ids:
        return out
    with session_scope(engine) as s:
        rows = s.scalars(
            select(AlertEvidence).where(AlertEvidence.alert_id.in_(alert_ids))
            .order_by(AlertEvidence.alert_id, AlertEvidence.start_time, AlertEvidence.event_id)
        ).all()
        for r in rows:
            out[r.alert_id].append(r.as_dict())
    return out


def get_alert(engine: Engine, alert_id: str) -> dict[str, Any] | None:
    """One alert with its evidence, notes, dispositions and audit trail; None when unknown."""
    with session_scope(engine) as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            return None
        out = alert.as_dict()
        out["evidence"] = [e.as_dict() for e in s.scalars(
            select(AlertEvidence).where(AlertEvidence.alert_id == alert_id)
            .order_by(AlertEvidence.start_time, AlertEvidence.event_id))]
        out["notes"] = [
            {"id": n.id, "author": n.author, "created_at": _plain(n.created_at), "text": n.text}
            for n in s.scalars(select(Note).where(Note.alert_id == alert_id).order_by(Note.id))
        ]
        out["dispositions"] = [
            {"disposition": d.disposition, "analyst": d.analyst,
             "decided_at": _plain(d.decided_at), "note": d.note}
            for d in s.scalars(select(Disposition).where(Disposition.alert_id == alert_id)
                               .order_by(Disposition.id))
        ]
    out["audit"] = audit_for(engine, "alert", alert_id)
    return out


def alert_history(
    engine: Engine,
    mmsi: int | None = None,
    imo: int | None = None,
    name: str | None = None,
    call_sign: str | None = None,
    before: date | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Earlier alerts of a vessel, matched by any identifier given (newest first)."""
    conds = []
    if mmsi is not None:
        conds.append(Alert.mmsi == int(mmsi))
    if imo is not None:
        conds.append(Alert.imo == int(imo))
    if name and call_sign:
        conds.append((Alert.name == name) & (Alert.call_sign == call_sign))
    if not conds:
        return []
    with session_scope(engine) as s:
        q = select(Alert).where(or_(*conds))
        if before is not None:
            q = q.where(Alert.date < before)
        rows = s.scalars(q.order_by(Alert.date.desc(), Alert.rank).limit(limit)).all()
        return [a.as_dict() for a in rows]


def watchlist_entries_for(
    engine: Engine,
    mmsi: int | None = None,
    imo: int | None = None,
    name: str | None = None,
    call_sign: str | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Active watchlist entries matching a vessel's identity (see watchlist.match_identities)."""
    from pipeline.alerts.watchlist import identity_conditions

    conds = identity_conditions(mmsi, imo, name, call_sign)
    if not conds:
        return []
    when = at or utcnow()
    with session_scope(engine) as s:
        rows = s.scalars(
            select(WatchlistEntry).where(or_(*conds), WatchlistEntry.expired.is_(False))
            .order_by(WatchlistEntry.entry_id)
        ).all()
        return [e.as_dict() for e in rows if e.expires_at is None or e.expires_at > when]


def audit_for(engine: Engine, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    """The audit trail of one record, oldest first."""
    with session_scope(engine) as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == entity_type,
                                     AuditEntry.entity_id == entity_id)
            .order_by(AuditEntry.id)
        ).all()
        return [r.as_dict() for r in rows]


def recent_runs(engine: Engine, limit: int = 50, stage: str | None = None) -> list[dict[str, Any]]:
    """The latest stage runs, newest first."""
    with session_scope(engine) as s:
        q = select(Run)
        if stage:
            q = q.where(Run.stage == stage)
        rows = s.scalars(q.order_by(Run.started_at.desc(), Run.run_id).limit(limit)).all()
        return [r.as_dict() for r in rows]
