"""``vessel-risk report --date D``: the analysts' daily report in ``<home>/reports/D/``.

Three files, replaced together (each written to a temporary name, then renamed into place
once all three are complete, so a crash leaves the previous set):

- ``report.html``: one self-contained page (no scripts, external styles, fonts or map tiles,
  a Content-Security-Policy that forbids them anyway): the run's counts, the ranked list and,
  per alert, score, reasons, identity, evidence, history (earlier alerts and dispositions,
  watchlist entries, port calls, incident reports) and a 48 h map drawn as inline SVG.
  Jinja2 with autoescape renders it: AIS text is never trusted.
- ``alerts.csv``: the same list for a spreadsheet, formula-safe (pipeline/alerts/csvsafe.py).
- ``alerts.geojson``: per alert its last position with the alert's fields, plus its track lines.

The lake is read once for all alerts of the day (positions by MMSI filter, events, port calls
and incident matches by ``is_in``), never once per alert and never row by row.
"""

from __future__ import annotations

import json
import os
import time as _time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from markupsafe import Markup
from sqlalchemy import Engine

from pipeline.alerts import queries
from pipeline.alerts.csvsafe import write_csv
from pipeline.alerts.evidence import evidence_collections
from pipeline.alerts.history import filter_ids, incidents_of, port_calls_of
from pipeline.alerts.store import MARKINGS, record_run, utcnow
from pipeline.alerts.svgmap import render_svg
from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.lake import Lake
from pipeline.workspace import Workspace

TEMPLATES = Path(__file__).resolve().parent / "templates"
REPORT_FILES = ("report.html", "alerts.csv", "alerts.geojson")
MAP_WIDTH_PX, MAP_HEIGHT_PX = 560, 340
HISTORY_LIMIT = 20  # earlier alerts listed per vessel
CSV_FIELDS = (
    "rank", "alert_id", "date", "mmsi", "name", "imo", "call_sign", "flag", "mid_flag",
    "destination",
    "score", "model_id", "region", "status", "disposition", "analyst", "watchlist_hit",
    "watchlist_entry_id", "departure_zone", "evidence_strength", "reason_codes", "reasons",
    "last_seen", "last_lat", "last_lon", "earlier_alerts", "port_calls", "incident_matches",
)
EVENT_LABELS = {
    "loiter": "loitering", "zone_dwell": "inside zone", "dark_gap": "AIS dark gap",
    "encounter": "encounter", "port_visit": "port visit",
    "identity_conflict": "identity conflict", "heading_to_destination": "heading to destination",
}
DISPOSITION_LABELS = {
    "confirmed": "confirmed smuggling-related", "suspicious": "suspicious", "benign": "benign",
    "false_positive": "false positive",
}


@dataclass
class ReportSummary:
    day: date
    directory: Path
    alerts: int = 0
    watchlist_hits: int = 0
    maps: int = 0
    model_ids: list[str] = field(default_factory=list)
    bytes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    run_id: str | None = None

    @property
    def html(self) -> Path:
        return self.directory / "report.html"

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "directory": str(self.directory),
                "html": str(self.html), "csv": str(self.directory / "alerts.csv"),
                "geojson": str(self.directory / "alerts.geojson"), "alerts": self.alerts,
                "watchlist_hits": self.watchlist_hits, "maps": self.maps,
                "model_ids": self.model_ids, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "run_id": self.run_id}


# --------------------------------------------------------------------------- lake look-ups


def port_calls_by_vessel(lake: Lake, alerts: list[dict[str, Any]], day: date, days: int
                         ) -> dict[str, list[dict[str, Any]]]:
    """Declared port calls of every alerted vessel (pipeline.alerts.history), by alert id."""
    calls = port_calls_of(lake, [(a["mmsi"], a.get("imo")) for a in alerts], day, days)
    return {a["alert_id"]: calls[a["mmsi"]] for a in alerts}


def incidents_by_vessel(lake: Lake, alerts: list[dict[str, Any]], day: date, days: int
                        ) -> dict[str, list[dict[str, Any]]]:
    """Incident reports linked to every alerted vessel (pipeline.alerts.history), by alert id."""
    found = incidents_of(lake, [a["mmsi"] for a in alerts], day, days)
    return {a["alert_id"]: found[a["mmsi"]] for a in alerts}


def latest_destinations(lake: Lake, mmsis: Sequence[int], start: date, end: date
                        ) -> dict[int, dict[str, Any]]:
    """The last destination (and when) each vessel broadcast between ``start`` and ``end``:
    vectorised over the static reports (sort, then the last row of each MMSI)."""
    table = lake.read("vessel_static", start, end, columns=["mmsi", "timestamp", "destination"])
    table = filter_ids(table, "mmsi", mmsis)
    present = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(table["destination"]), ""),
                           False)
    table = table.filter(present)
    if table.num_rows == 0:
        return {}
    table = table.sort_by([("mmsi", "ascending"), ("timestamp", "ascending")])
    ids = table["mmsi"].to_numpy()
    last = np.flatnonzero(np.r_[ids[1:] != ids[:-1], True])
    rows = table.take(pa.array(last)).to_pylist()
    return {r["mmsi"]: {"destination": r["destination"], "time": r["timestamp"]} for r in rows}


# --------------------------------------------------------------------------- assembling


def _mid_iso(settings: Settings, mmsi: int) -> str | None:
    got = settings.flag_of_mmsi(int(mmsi))
    return got[1] if got else None


def _mid_flag(settings: Settings, mmsi: int) -> str | None:
    got = settings.flag_of_mmsi(int(mmsi))
    if got is None:
        return None
    country, iso2 = got
    return f"{country} ({iso2})" if iso2 else country


def _last_position(collection: dict[str, Any]) -> dict[str, Any] | None:
    for f in collection["features"]:
        if f["properties"]["kind"] == "track_end":
            lon, lat = f["geometry"]["coordinates"]
            return {"lat": lat, "lon": lon, "time": f["properties"]["time"],
                    "sog_kn": f["properties"].get("sog_kn")}
    return None


def _evidence_rows(rows: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = r.get("detail") or {}
        zone = settings.zone(r["zone_id"]) if r.get("zone_id") else None
        out.append({
            "type": EVENT_LABELS.get(r["event_type"], r["event_type"]),
            "start": r["start_time"], "end": r["end_time"],
            "duration_h": d.get("duration_h"), "night_h": d.get("night_h"),
            "place": (f"{zone.name} ({zone.id})" if zone else r.get("zone_id")),
            "partner_mmsi": d.get("partner_mmsi"), "open": d.get("open"),
            "detail": d.get("detail"),
        })
    return out


def _highest_marking(markings: list[str]) -> str | None:
    known = [m for m in markings if m in MARKINGS]
    return max(known, key=MARKINGS.index) if known else None


def _fmt_time(value: Any) -> str:
    """'2025-09-11 21:52Z' from ISO text or a datetime (the report's one time format)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%MZ")
    return str(value)


def _fmt_short(value: Any) -> str:
    """'11 Sep 21:52Z': event times inside one alert, where the year is plain."""
    full = _fmt_time(value)
    if not full or len(full) < 16:
        return full
    t = datetime.strptime(full, "%Y-%m-%d %H:%MZ")
    return t.strftime("%d %b %H:%MZ")


def _fmt_num(value: Any, digits: int = 1) -> str:
    if value is None:
        return ""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if f != f else f"{f:.{digits}f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["t"] = _fmt_time
    env.filters["num"] = _fmt_num
    env.filters["short"] = _fmt_short
    return env


def _latest_alert_run(engine: Engine, day: date) -> dict[str, Any] | None:
    runs = [r for r in queries.recent_runs(engine, limit=200, stage="alert")
            if r["date"] == day.isoformat()]
    return runs[0] if runs else None


def build_report_context(lake: Lake, settings: Settings, engine: Engine, day: date
                         ) -> dict[str, Any]:
    """Everything the templates and the CSV/GeoJSON writers need, as plain values."""
    alerts = queries.alerts_for_day(engine, day)
    run = _latest_alert_run(engine, day)
    if not alerts and run is None:
        raise UserError(f"no alerts for {day} and no alert run recorded for it: run "
                        f"`vessel-risk alert --date {day}` first")
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    hours = settings.web.map_default_hours
    history_days = settings.web.history_days
    ids = [a["alert_id"] for a in alerts]
    evidence = queries.evidence_for(engine, ids)
    maps = evidence_collections(lake, settings, [a["mmsi"] for a in alerts], end, hours,
                                regions={a["mmsi"]: a.get("region") for a in alerts})
    calls = port_calls_by_vessel(lake, alerts, day, history_days)
    incidents = incidents_by_vessel(lake, alerts, day, history_days)
    destinations = latest_destinations(lake, [a["mmsi"] for a in alerts],
                                       (end - timedelta(hours=hours)).date(), day)
    scored = lake.read("scores", day, columns=["model_id"])
    model_ids = sorted({a["model_id"] for a in alerts}
                       | set(pc.unique(scored["model_id"]).to_pylist()))
    items = []
    markings: list[str] = []
    for a in alerts:
        history = queries.alert_history(engine, a["mmsi"], a.get("imo"), a.get("name"),
                                         a.get("call_sign"), before=day, limit=HISTORY_LIMIT)
        watch = queries.watchlist_entries_for(engine, a["mmsi"], a.get("imo"), a.get("name"),
                                              a.get("call_sign"), at=end)
        markings += [w["marking"] for w in watch]
        detail = queries.get_alert(engine, a["alert_id"]) or {}
        collection = maps[a["mmsi"]]
        title = f"{hours} h evidence map of MMSI {a['mmsi']} ({a.get('name') or 'no name'})"
        svg = render_svg(collection, settings, MAP_WIDTH_PX, MAP_HEIGHT_PX, title=title)
        items.append({
            "alert": a, "mid_flag": _mid_flag(settings, a["mmsi"]),
            "mid_iso": _mid_iso(settings, a["mmsi"]),
            "destination": destinations.get(a["mmsi"]),
            "departure_zone": settings.zone(a["departure_zone"]) if a.get("departure_zone")
            else None,
            "evidence": _evidence_rows(evidence.get(a["alert_id"], []), settings),
            "history": history, "watchlist": watch,
            "notes": detail.get("notes", [])[-3:],
            "dispositions": detail.get("dispositions", []),
            "port_calls": calls.get(a["alert_id"], []),
            "incidents": incidents.get(a["alert_id"], []),
            "last": _last_position(collection), "collection": collection,
            "map_svg": Markup(svg),  # built by svgmap, which escapes every text itself
        })
    statuses: dict[str, int] = {}
    for a in alerts:
        statuses[a["status"]] = statuses.get(a["status"], 0) + 1
    return {
        "day": day, "generated_at": utcnow(), "items": items, "run": run,
        "model_ids": model_ids, "scored": scored.num_rows, "statuses": statuses,
        "watchlist_hits": sum(1 for a in alerts if a["watchlist_hit"]),
        "marking": _highest_marking(markings), "map_hours": hours,
        "history_days": history_days, "disposition_labels": DISPOSITION_LABELS,
    }


def _csv_rows(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for item in ctx["items"]:
        a, last = item["alert"], item["last"] or {}
        rows.append({
            **{k: a.get(k) for k in CSV_FIELDS if k in a},
            "mid_flag": item["mid_flag"],
            "destination": (item["destination"] or {}).get("destination"),
            "reason_codes": ";".join(a.get("reason_codes") or []),
            "reasons": " | ".join(a.get("reasons") or []),
            "last_seen": last.get("time"), "last_lat": last.get("lat"),
            "last_lon": last.get("lon"), "earlier_alerts": len(item["history"]),
            "port_calls": len(item["port_calls"]), "incident_matches": len(item["incidents"]),
        })
    return rows


def _geojson(ctx: dict[str, Any]) -> dict[str, Any]:
    """One Point per alert at its last position (null geometry when it sent none in the
    window) with the alert's fields, then one MultiLineString per alert with its track."""
    points, lines = [], []
    for item in ctx["items"]:
        a, last = item["alert"], item["last"]
        props = {k: a.get(k) for k in CSV_FIELDS if k in a}
        props.update(mid_flag=item["mid_flag"], kind="alert",
                     destination=(item["destination"] or {}).get("destination"),
                     last_seen=last["time"] if last else None)
        geom = {"type": "Point", "coordinates": [last["lon"], last["lat"]]} if last else None
        points.append({"type": "Feature", "id": a["alert_id"], "geometry": geom,
                       "properties": props})
        tracks = [f["geometry"]["coordinates"] for f in item["collection"]["features"]
                  if f["properties"]["kind"] == "track"]
        if tracks:
            lines.append({"type": "Feature", "id": f"{a['alert_id']}-track",
                          "geometry": {"type": "MultiLineString", "coordinates": tracks},
                          "properties": {"kind": "track", "alert_id": a["alert_id"],
                                         "mmsi": a["mmsi"], "rank": a["rank"],
                                         "window": item["collection"]["window"]}})
    return {"type": "FeatureCollection", "features": points + lines}


def _write_all(directory: Path, contents: dict[str, bytes]) -> dict[str, int]:
    """Write every file to a temporary name, then rename them all into place."""
    directory.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    temps: dict[str, Path] = {}
    try:
        for name, data in contents.items():
            tmp = directory / f".{name}.{tag}.tmp"
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            temps[name] = tmp
        for name, tmp in temps.items():
            os.replace(tmp, directory / name)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return {name: len(data) for name, data in contents.items()}


def render_report(ctx: dict[str, Any]) -> dict[str, bytes]:
    """The three files' bytes from the assembled context."""
    import io

    html = _environment().get_template("report.html.j2").render(**ctx)
    buf = io.StringIO()
    write_csv(buf, CSV_FIELDS, _csv_rows(ctx))
    geo = json.dumps(_geojson(ctx), ensure_ascii=False, separators=(",", ":"), default=str)
    # the CSV starts with a BOM: spreadsheets then read it as UTF-8 (degree signs, names)
    return {"report.html": html.encode("utf-8"),
            "alerts.csv": buf.getvalue().encode("utf-8-sig"),
            "alerts.geojson": geo.encode("utf-8")}


def write_report(lake: Lake, settings: Settings, engine: Engine, workspace: Workspace, day: date
                 ) -> ReportSummary:
    """Write ``reports/D/`` (report.html, alerts.csv, alerts.geojson) and record the run."""
    started = utcnow()
    t0 = _time.perf_counter()
    directory = workspace.report_dir(day)
    try:
        ctx = build_report_context(lake, settings, engine, day)
        sizes = _write_all(directory, render_report(ctx))
    except Exception as exc:
        record_run(engine, "report", day, "failed", {}, f"{type(exc).__name__}: {exc}"[:2000],
                   started_at=started)
        raise
    summary = ReportSummary(
        day, directory, alerts=len(ctx["items"]), watchlist_hits=ctx["watchlist_hits"],
        maps=sum(1 for i in ctx["items"] if i["last"] is not None), model_ids=ctx["model_ids"],
        bytes=sizes, seconds=_time.perf_counter() - t0,
    )
    summary.run_id = record_run(engine, "report", day, "ok",
                                {"alerts": summary.alerts, "watchlist_hits": summary.watchlist_hits,
                                 "maps": summary.maps, "bytes": sum(sizes.values())},
                                str(summary.html), started_at=started)
    return summary
