"""``vessel-risk alert --date D``: the scored day becomes the analysts' alert list.

A PIU has a few analysts and a fixed number of hours: the list is the day's highest scores
above ``alerts.min_score``, capped at the region's daily capacity, without vessels alerted in
the last ``suppress_days`` that show nothing new (an analyst reviewing the same loiterer every
day stops reading the list). Watchlisted vessels with events on the day are always added,
matched by identity so a changed MMSI does not hide them. Each alert carries the day's events
of its vessel as evidence.

Re-running a day updates the same alerts (ids are hashes of MMSI and date) without touching
what analysts did with them; an alert that no longer qualifies is removed only if nobody has
worked on it.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, select

from pipeline.alerts.audit import changed, write_audit
from pipeline.alerts.store import (
    Alert,
    AlertEvidence,
    Disposition,
    Note,
    record_run,
    session_scope,
    stable_id,
    utcnow,
)
from pipeline.alerts.watchlist import match_identities
from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.lake import Lake

ACTOR = "pipeline:alert"
# Columns refreshed by a rerun; everything else on an alert is the analysts'.
MACHINE_FIELDS = ("rank", "score", "model_id", "region", "reason_codes", "reasons", "name",
                  "imo", "call_sign", "flag", "departure_zone", "watchlist_hit",
                  "watchlist_entry_id", "evidence_strength")
EVIDENCE_DETAIL = ("duration_h", "night_h", "open", "positions", "end_lat", "end_lon",
                   "partner_mmsi", "distance_to_shore_m", "distance_to_departure_m",
                   "distance_m", "implied_speed_kn", "bearing_deg", "reception_ratio", "detail")
DEPARTURE_ROLES = ("departure", "holding_area")
IN_CHUNK = 5000  # ids per IN (...) list: SQLite allows 32766 bind parameters a statement


@dataclass
class AlertSummary:
    day: date
    model_id: str | None = None
    scored: int = 0  # vessels scored on the day
    above_min_score: int = 0
    suppressed: int = 0  # alerted recently with nothing new
    over_capacity: int = 0  # qualified but beyond the region's daily capacity
    alerts: int = 0
    watchlist_hits: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0  # no longer qualifying, untouched: deleted
    kept_touched: int = 0  # no longer qualifying, but an analyst worked on them: kept
    evidence_rows: int = 0
    by_region: dict[str, int] = field(default_factory=dict)
    top: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    run_id: str | None = None
    note: str | None = None  # e.g. a day without any data

    def counts(self) -> dict[str, Any]:
        return {k: v for k, v in self.as_dict().items()
                if k not in ("day", "top", "run_id", "model_id", "note")}

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["day"] = self.day.isoformat()
        out["seconds"] = round(self.seconds, 3)
        return out


def alert_day(lake: Lake, settings: Settings, engine: Engine, day: date,
              actor: str = ACTOR) -> AlertSummary:
    """Build (or rebuild) the alerts of ``day`` from lake/scores and lake/events; record the
    run in ``runs`` whether it succeeds or fails."""
    started = utcnow()
    t0 = _time.perf_counter()
    try:
        summary = _alert_day(lake, settings, engine, day, actor)
    except Exception as exc:
        record_run(engine, "alert", day, "failed", {}, f"{type(exc).__name__}: {exc}"[:2000],
                   started_at=started)
        raise
    summary.seconds = _time.perf_counter() - t0
    summary.run_id = record_run(engine, "alert", day, "ok", summary.counts(), summary.note,
                                started_at=started)
    return summary


# --------------------------------------------------------------------------- evidence


def evidence_strength(events: pd.DataFrame, settings: Settings) -> pd.Series:
    """Per-event strength: type weight x (1 + night factor x share of the event at night)."""
    cfg = settings.alerts
    weight = events["event_type"].map(cfg.evidence_weight_by_event_type).fillna(0.0)
    dur = events["duration_h"].to_numpy(dtype="float64", na_value=0.0)
    night = events["night_h"].to_numpy(dtype="float64", na_value=0.0)
    share = np.clip(np.divide(night, dur, out=np.zeros_like(dur), where=dur > 0), 0.0, 1.0)
    return weight.astype("float64") * (1.0 + cfg.evidence_night_factor * share)




def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _evidence_rows(events: pd.DataFrame) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    extra = [c for c in EVIDENCE_DETAIL if c in events.columns]
    for rec in events.to_dict("records"):  # only the alerted vessels' events (tens of rows)
        detail = {c: _jsonable(rec[c]) for c in extra if not pd.isna(rec[c])}
        out.setdefault(int(rec["mmsi"]), []).append({
            "event_id": rec["event_id"], "event_type": rec["event_type"],
            "start_time": rec["start_time"].to_pydatetime(),
            "end_time": rec["end_time"].to_pydatetime(),
            "lat": None if pd.isna(rec["lat"]) else float(rec["lat"]),
            "lon": None if pd.isna(rec["lon"]) else float(rec["lon"]),
            "zone_id": None if pd.isna(rec["zone_id"]) else rec["zone_id"],
            "detail": detail,
        })
    return out


# --------------------------------------------------------------------------- selection


def _previous(engine: Engine, day: date, days: int, mmsis: list[int], settings: Settings
              ) -> pd.DataFrame:
    """Alerts of the same vessels in the suppression window: strongest evidence and the kinds
    of evidence (event types with a weight above 0) they already showed."""
    cols = ["mmsi", "prev_strength", "prev_kinds"]
    if days <= 0 or not mmsis:
        return pd.DataFrame(columns=cols)
    start = day - timedelta(days=days)
    weights = settings.alerts.evidence_weight_by_event_type
    alerts: list[Any] = []
    ev: list[Any] = []
    with session_scope(engine) as s:
        for i in range(0, len(mmsis), IN_CHUNK):  # bound the bind parameters of one query
            alerts += s.execute(
                select(Alert.alert_id, Alert.mmsi, Alert.evidence_strength)
                .where(Alert.date >= start, Alert.date < day,
                       Alert.mmsi.in_(mmsis[i:i + IN_CHUNK]))
            ).all()
        ids = [a.alert_id for a in alerts]
        for i in range(0, len(ids), IN_CHUNK):
            ev += s.execute(
                select(AlertEvidence.alert_id, AlertEvidence.event_type)
                .where(AlertEvidence.alert_id.in_(ids[i:i + IN_CHUNK]))
            ).all()
    if not alerts:
        return pd.DataFrame(columns=cols)
    types: dict[str, set[str]] = {}
    for alert_id, event_type in ev:
        if weights.get(event_type, 0.0) > 0:
            types.setdefault(alert_id, set()).add(event_type)
    rows: dict[int, dict[str, Any]] = {}
    for a in alerts:
        r = rows.setdefault(int(a.mmsi), {"mmsi": int(a.mmsi), "prev_strength": 0.0,
                                          "prev_kinds": set()})
        r["prev_strength"] = max(r["prev_strength"], float(a.evidence_strength))
        r["prev_kinds"] |= types.get(a.alert_id, set())
    return pd.DataFrame(list(rows.values()), columns=cols)


def _identities(features: pd.DataFrame, static: pd.DataFrame) -> pd.DataFrame:
    """Every identity each vessel used on the day: its features row and its static reports."""
    cols = ["mmsi", "imo", "name", "call_sign"]
    both = pd.concat([features[cols], static[cols]], ignore_index=True)
    return both.drop_duplicates().reset_index(drop=True)


def _departure_zone(events: pd.DataFrame, settings: Settings) -> pd.Series:
    """Per vessel: the departure point / holding area its events came closest to."""
    roles = {z.id: z.role for z in settings.zones}
    ev = events[events["zone_id"].map(lambda z: roles.get(z) in DEPARTURE_ROLES)]
    if ev.empty:
        return pd.Series(dtype="object")
    ev = ev.assign(_d=ev["distance_to_departure_m"].fillna(np.inf))
    best = ev.sort_values(["mmsi", "_d", "start_time"]).drop_duplicates("mmsi")
    return best.set_index("mmsi")["zone_id"]


def _alert_day(lake: Lake, settings: Settings, engine: Engine, day: date, actor: str
               ) -> AlertSummary:
    cfg = settings.alerts
    summary = AlertSummary(day)
    if not lake.has_partition("scores", day):
        # an empty stage output removes the partition: a day without any data is a quiet day,
        # a day with data but no scores is a stage not yet run
        if any(lake.has_partition(t, day) for t in ("positions", "events", "features")):
            raise UserError(f"no scores for {day}: run `vessel-risk score --date {day}` first")
        summary.note = f"the lake has no positions, events or scores for {day}"
    scores = lake.read("scores", day).to_pandas()
    features = lake.read("features", day, columns=["mmsi", "name", "call_sign", "imo"]
                         ).to_pandas()
    static = lake.read("vessel_static", day,
                       columns=["mmsi", "timestamp", "imo", "name", "call_sign", "flag"]
                       ).to_pandas()
    events = lake.read("events", day).to_pandas()
    events["strength"] = evidence_strength(events, settings) if len(events) else 0.0
    summary.scored = len(scores)
    summary.model_id = str(scores["model_id"].iloc[0]) if len(scores) else None

    strength = events.groupby("mmsi")["strength"].sum()
    weighted = events[events["strength"] > 0]
    types_by_mmsi = weighted.groupby("mmsi")["event_type"].agg(lambda t: set(t))

    # 1. qualifying scores, minus recent repeats with nothing new, capped per region
    cand = scores[scores["score"] >= cfg.min_score].sort_values(["rank", "mmsi"]).copy()
    summary.above_min_score = len(cand)
    cand["strength"] = cand["mmsi"].map(strength).fillna(0.0).astype("float64")
    prev = _previous(engine, day, cfg.suppress_days, [int(m) for m in cand["mmsi"]], settings)
    cand = cand.merge(prev, on="mmsi", how="left")
    had = cand["prev_strength"].notna().to_numpy()
    new_kind = np.array([  # a handful of repeat candidates
        bool(types_by_mmsi.get(m, set()) - (pk if isinstance(pk, set) else set()))
        for m, pk in zip(cand["mmsi"], cand["prev_kinds"], strict=True)
    ], dtype=bool)
    prev_strength = cand["prev_strength"].to_numpy(dtype="float64", na_value=0.0)
    stronger = cand["strength"].to_numpy() >= cfg.stronger_evidence_ratio * prev_strength
    stronger &= cand["strength"].to_numpy() > prev_strength
    suppressed = had & ~new_kind & ~stronger
    summary.suppressed = int(suppressed.sum())
    cand = cand[~suppressed]
    region_key = cand["region"].fillna("default")
    capacity = region_key.map(cfg.capacity).to_numpy()
    within = cand.groupby(region_key.to_numpy()).cumcount().to_numpy() < capacity
    summary.over_capacity = int((~within).sum())
    chosen = cand[within]

    # 2. watchlisted vessels with events on the day: always on the list
    at = datetime.combine(day, time(0), UTC)
    matches = match_identities(engine, _identities(features, static), at=at)
    active = set(events["mmsi"].astype("int64"))
    matches = matches[matches["mmsi"].isin(active)].drop_duplicates("mmsi")
    hit_entry = dict(zip(matches["mmsi"].astype("int64"), matches["entry_id"], strict=True))
    extra = scores[scores["mmsi"].isin(set(hit_entry) - set(chosen["mmsi"]))].copy()
    extra["strength"] = extra["mmsi"].map(strength).fillna(0.0)
    missing = sorted(set(hit_entry) - set(chosen["mmsi"]) - set(extra["mmsi"]))
    if missing:  # events but no score row (should not happen): alert on the evidence alone
        extra = pd.concat([extra, pd.DataFrame({
            "mmsi": missing, "date": day, "score": 0.0, "rank": 0,
            "model_id": summary.model_id or "none", "region": None,
            "reason_codes": [[] for _ in missing], "reasons": [[] for _ in missing],
            "strength": [float(strength.get(m, 0.0)) for m in missing]})], ignore_index=True)
    extra = extra.sort_values(["strength", "mmsi"], ascending=[False, True])
    listed = pd.concat([chosen.drop(columns=["prev_strength", "prev_kinds"]), extra],
                       ignore_index=True)
    listed["position"] = np.arange(1, len(listed) + 1)
    summary.watchlist_hits = int(listed["mmsi"].isin(set(hit_entry)).sum())

    # 3. identity, flag and departure point of each listed vessel
    ident = features.drop_duplicates("mmsi").set_index("mmsi")
    flags = (static.dropna(subset=["flag"]).sort_values("timestamp")
             .drop_duplicates("mmsi", keep="last").set_index("mmsi")["flag"])
    zone_of = _departure_zone(events, settings)
    ev_rows = _evidence_rows(events[events["mmsi"].isin(set(listed["mmsi"]))])

    rows: list[dict[str, Any]] = []
    for r in listed.to_dict("records"):
        m = int(r["mmsi"])
        name = ident["name"].get(m) if m in ident.index else None
        imo = ident["imo"].get(m) if m in ident.index else None
        cs = ident["call_sign"].get(m) if m in ident.index else None
        flag = flags.get(m)
        if flag is None or pd.isna(flag):
            known = settings.flag_of_mmsi(m)
            flag = known[1] if known else None
        rows.append({
            "alert_id": stable_id("alert", m, day.isoformat(), length=24),
            "date": day, "mmsi": m, "rank": int(r["position"]), "score": float(r["score"]),
            "model_id": str(r["model_id"]),
            "region": None if pd.isna(r["region"]) else str(r["region"]),
            "reason_codes": [str(x) for x in r["reason_codes"]],
            "reasons": [str(x) for x in r["reasons"]],
            "name": None if name is None or pd.isna(name) else str(name)[:128],
            "imo": None if imo is None or pd.isna(imo) else int(imo),
            "call_sign": None if cs is None or pd.isna(cs) else str(cs)[:32],
            "flag": flag, "departure_zone": zone_of.get(m),
            "watchlist_hit": m in hit_entry, "watchlist_entry_id": hit_entry.get(m),
            "evidence_strength": round(float(r["strength"]), 6),
        })
    _upsert(engine, day, rows, ev_rows, actor, summary)
    summary.alerts = len(rows)
    for r in rows:
        key = r["region"] or "default"
        summary.by_region[key] = summary.by_region.get(key, 0) + 1
    summary.top = [{k: r[k] for k in ("alert_id", "rank", "mmsi", "name", "score",
                                      "watchlist_hit", "reasons")} for r in rows[:10]]
    return summary


# --------------------------------------------------------------------------- upsert


def _touched(s: Any, alert: Alert) -> bool:
    """An analyst worked on it: status, version, a note or a disposition."""
    if alert.status != "new" or alert.version != 1 or alert.assignee:
        return True
    n = s.scalar(select(func.count()).select_from(Note).where(Note.alert_id == alert.alert_id))
    d = s.scalar(select(func.count()).select_from(Disposition)
                 .where(Disposition.alert_id == alert.alert_id))
    return bool(n or d)


def _upsert(engine: Engine, day: date, rows: list[dict[str, Any]],
            evidence: dict[int, list[dict[str, Any]]], actor: str,
            summary: AlertSummary) -> None:
    """One transaction: create or refresh the day's alerts, replace their evidence, remove
    the untouched ones that no longer qualify."""
    now = utcnow()
    with session_scope(engine) as s:
        existing = {a.alert_id: a for a in s.scalars(select(Alert).where(Alert.date == day))}
        wanted = {r["alert_id"] for r in rows}
        for alert_id in sorted(set(existing) - wanted):
            old = existing[alert_id]
            if _touched(s, old):
                summary.kept_touched += 1
                continue
            write_audit(s, actor, "remove", "alert", alert_id, _brief(old.as_dict()), None)
            s.delete(old)
            summary.removed += 1
        s.flush()
        for r in rows:
            alert = existing.get(r["alert_id"])
            if alert is None:
                s.add(Alert(**r, status="new", version=1, created_at=now, updated_at=now))
                write_audit(s, actor, "create", "alert", r["alert_id"], None, _brief(r))
                summary.created += 1
                continue
            before = {k: getattr(alert, k) for k in MACHINE_FIELDS}
            after = {k: r[k] for k in MACHINE_FIELDS}
            b, a = changed(before, after)
            if not a:
                summary.unchanged += 1
                continue
            for k, v in a.items():
                setattr(alert, k, v)
            write_audit(s, actor, "refresh", "alert", r["alert_id"], b, a)
            summary.updated += 1
        s.flush()
        if wanted:
            s.execute(delete(AlertEvidence).where(AlertEvidence.alert_id.in_(sorted(wanted))))
        for r in rows:
            for e in evidence.get(r["mmsi"], []):
                s.add(AlertEvidence(alert_id=r["alert_id"], **e))
                summary.evidence_rows += 1


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("mmsi", "date", "rank", "score", "model_id", "watchlist_hit", "watchlist_entry_id",
            "evidence_strength", "status")
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()
            if k in keep}
