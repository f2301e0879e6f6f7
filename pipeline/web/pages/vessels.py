"""The vessel page: everything known about one MMSI across days (alerts and their
dispositions, watchlist entries, identities broadcast, recent events, port calls, incident
reports, a map of its latest track), and vessel search."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pipeline.lake import Lake
from pipeline.web import lakeinfo
from pipeline.web.app import SignedIn, redirect, render, web_of
from pipeline.web.geodata import zone_names
from pipeline.web.reads import find_vessels

router = APIRouter()

RECENT_EVENT_DAYS = 14
IDENTITY_DAYS = 30  # days of static reports looked at (alert days plus the latest lake days)


@router.get("/vessels")
def search(request: Request, user: SignedIn, q: str = "") -> Response:
    web = web_of(request)
    text = q.strip()
    if text.isdigit() and len(text) == 9:
        return redirect(f"/vessels/{int(text)}")
    rows = find_vessels(web.engine, text) if text else []
    if len(rows) == 1 and rows[0]["mmsi"] is not None:
        return redirect(f"/vessels/{rows[0]['mmsi']}")
    return render(request, "vessel_search.html", nav="", q=text, rows=rows, search_q=text)


def _latest_day(lake: Lake) -> date | None:
    days = lake.dates("positions")
    return days[-1] if days else None


@router.get("/vessels/{mmsi}")
def vessel(request: Request, user: SignedIn, mmsi: int,
           hours: Annotated[int, Query(ge=0)] = 0) -> Response:
    from pipeline.alerts.queries import alert_history, watchlist_entries_for

    web = web_of(request)
    cfg = web.settings.web
    alerts = alert_history(web.engine, mmsi=mmsi, limit=500)
    latest = alerts[0] if alerts else None
    imo = latest["imo"] if latest else None
    if imo is not None:  # the same hull under other MMSIs
        alerts = alert_history(web.engine, mmsi=mmsi, imo=imo, limit=500)
    lake_day = _latest_day(web.lake)
    alert_days = [date.fromisoformat(a["date"]) for a in alerts]
    end_day = max([d for d in [lake_day, *alert_days[:1]] if d is not None],
                  default=datetime.now(UTC).date())
    static_days = sorted({*alert_days[:IDENTITY_DAYS],
                          *(end_day - timedelta(days=i) for i in range(3))})
    identities = lakeinfo.identities_for(web.lake, mmsi, static_days)
    name = latest["name"] if latest else (identities[0]["name"] if identities else None)
    call_sign = latest["call_sign"] if latest else (
        identities[0]["call_sign"] if identities else None)
    if imo is None and identities:
        imo = next((i["imo"] for i in identities if i["imo"]), None)
    end = datetime.combine(end_day + timedelta(days=1), time(), UTC)
    events = lakeinfo.events_in_window(web.lake, mmsi, end - timedelta(days=RECENT_EVENT_DAYS),
                                       end)
    by_day: dict[str, Counter[str]] = {}
    for e in events:
        by_day.setdefault(e["end_time"].date().isoformat(), Counter())[e["event_type"]] += 1
    hours = min(hours or cfg.map_default_hours, cfg.map_max_hours)
    flag = web.settings.flag_of_mmsi(mmsi)
    return render(
        request, "vessel.html", nav="", mmsi=mmsi, name=name, imo=imo, call_sign=call_sign,
        flag=(latest or {}).get("flag") or (flag[1] if flag else None),
        mid_country=flag[0] if flag else None,
        alerts=alerts, identities=identities,
        watch=watchlist_entries_for(web.engine, mmsi=mmsi, imo=imo, name=name,
                                    call_sign=call_sign),
        events=events[-60:], by_day=sorted(by_day.items(), reverse=True),
        port_calls=lakeinfo.port_calls_for(web.lake, mmsi, imo, end_day, cfg.history_days),
        incidents=lakeinfo.incidents_for(web.lake, mmsi, end_day + timedelta(days=30),
                                         cfg.history_days + 30),
        disposition_counts=Counter(a["disposition"] for a in alerts if a["disposition"]),
        zone_names=zone_names(web.settings), end=end, hours=hours,
        windows=[h for h in (24, 48, 72, 168, 336) if h <= cfg.map_max_hours],
        has_track=lake_day is not None,
    )


@router.get("/api/vessels/{mmsi}/track.geojson")
def vessel_track(request: Request, _user: SignedIn, mmsi: int, end: str = "",
                 hours: Annotated[int, Query(ge=0)] = 0) -> Response:
    """The vessel's evidence GeoJSON over ``hours`` up to ``end`` (ISO time; default: the end
    of the latest day in the lake)."""
    import json

    from pipeline.alerts.evidence import alert_evidence_geojson

    web = web_of(request)
    cfg = web.settings.web
    try:
        until = datetime.fromisoformat(end) if end else None
    except ValueError:
        until = None
    if until is None or until.tzinfo is None:
        day = _latest_day(web.lake) or datetime.now(UTC).date()
        until = datetime.combine(day + timedelta(days=1), time(), UTC)
    doc = alert_evidence_geojson(web.lake, web.settings, mmsi, until,
                                 hours=min(hours or cfg.map_default_hours, cfg.map_max_hours))
    return Response(json.dumps(doc, separators=(",", ":"), allow_nan=False, default=str),
                    media_type="application/geo+json")
