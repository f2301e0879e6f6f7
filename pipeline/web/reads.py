"""Read-only lookups the pages need beyond pipeline.alerts.queries: the days that have
alerts, and finding a vessel by a fragment of its identity. ORM selects only (bound
parameters, never SQL text built from input); nothing here writes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, or_, select

from pipeline.alerts.store import Alert, WatchlistEntry, session_scope

SEARCH_LIMIT = 50


def alert_days(engine: Engine) -> list[date]:
    """Every day that has alerts, newest first (for the queue's day navigation)."""
    with session_scope(engine) as s:
        return list(s.scalars(select(Alert.date).distinct().order_by(Alert.date.desc())))


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (wildcards in input escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_vessels(engine: Engine, query: str) -> list[dict[str, Any]]:
    """Vessels whose MMSI, IMO, name or call sign contains ``query`` (case-insensitive), from
    the alerts and the watchlist: one row per MMSI (or per watchlist entry without one) with
    the latest identity seen and how many alerts it has."""
    q = query.strip()
    if not q:
        return []
    pattern = _like(q.upper())
    digits = q.isdigit()
    with session_scope(engine) as s:
        conds: list[ColumnElement[bool]] = [
            func.upper(Alert.name).like(pattern, escape="\\"),
                 func.upper(Alert.call_sign).like(pattern, escape="\\")]
        if digits:
            conds += [Alert.mmsi == int(q), Alert.imo == int(q)]
        rows = s.execute(
            select(Alert.mmsi, Alert.name, Alert.imo, Alert.call_sign, Alert.flag, Alert.date)
            .where(or_(*conds)).order_by(Alert.date.desc()).limit(SEARCH_LIMIT * 10)
        ).all()
        wconds: list[ColumnElement[bool]] = [
            func.upper(WatchlistEntry.name).like(pattern, escape="\\"),
                  func.upper(WatchlistEntry.call_sign).like(pattern, escape="\\")]
        if digits:
            wconds += [WatchlistEntry.mmsi == int(q), WatchlistEntry.imo == int(q)]
        wrows = s.execute(
            select(WatchlistEntry.entry_id, WatchlistEntry.mmsi, WatchlistEntry.name,
                   WatchlistEntry.imo, WatchlistEntry.call_sign)
            .where(or_(*wconds)).limit(SEARCH_LIMIT)
        ).all()
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = str(r.mmsi)
        if key not in found:
            found[key] = {"mmsi": r.mmsi, "name": r.name, "imo": r.imo,
                          "call_sign": r.call_sign, "flag": r.flag, "last_alert": r.date,
                          "alerts": 0, "watchlist": False}
        found[key]["alerts"] += 1
    for w in wrows:
        key = str(w.mmsi) if w.mmsi is not None else f"entry:{w.entry_id}"
        row = found.setdefault(key, {"mmsi": w.mmsi, "name": w.name, "imo": w.imo,
                                     "call_sign": w.call_sign, "flag": None,
                                     "last_alert": None, "alerts": 0, "watchlist": False})
        row["watchlist"] = True
        row.setdefault("entry_id", w.entry_id)
    return list(found.values())[:SEARCH_LIMIT]
