"""The queue: one day's alerts, ranked, with filters and sorting; one click opens an alert.

A day's list is capped at the unit's review capacity (tens of rows), so filtering and sorting
the day's rows in Python is instant; the database query is the store's ``alerts_for_day``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from pipeline.alerts.store import ALERT_STATUSES, DISPOSITIONS
from pipeline.web.app import SignedIn, render, web_of
from pipeline.web.geodata import zone_names
from pipeline.web.reads import alert_days

router = APIRouter()

SORTS: dict[str, tuple[str, bool]] = {  # name -> (alert field, descending)
    "rank": ("rank", False),
    "score": ("score", True),
    "status": ("status", False),
    "vessel": ("name", False),
    "updated": ("updated_at", True),
}
STATUS_ORDER = {s: i for i, s in enumerate(ALERT_STATUSES)}
FEED_STALE_H = 36.0  # no ingest run for this long: the feed may be down


def _sort_key(field: str) -> Any:
    def key(a: dict[str, Any]) -> Any:
        v = a.get(field)
        if field == "status":
            return STATUS_ORDER.get(str(v), 99), a["rank"]
        if field == "name":
            return (str(v or "").casefold() or "\uffff", a["rank"])
        return (v is None, v if v is not None else 0, a["rank"])

    return key


def filter_and_sort(alerts: list[dict[str, Any]], status: str, region: str, departure: str,
                    disposition: str, sort: str) -> list[dict[str, Any]]:
    """The rows the filters keep, in the chosen order ('' = no filter on that field;
    disposition 'none' = alerts not yet dispositioned)."""
    rows = alerts
    if status:
        rows = [a for a in rows if a["status"] == status]
    if region:
        rows = [a for a in rows if a["region"] == region]
    if departure:
        rows = [a for a in rows if a["departure_zone"] == departure]
    if disposition == "none":
        rows = [a for a in rows if not a["disposition"]]
    elif disposition:
        rows = [a for a in rows if a["disposition"] == disposition]
    field, desc = SORTS.get(sort, SORTS["rank"])
    return sorted(rows, key=_sort_key(field), reverse=desc)


def _ais_positions(run: dict[str, Any]) -> int | None:
    """Positions an ingest run took (None for port-call / incident ingests)."""
    counts = run.get("counts") or {}
    if counts.get("kind", "ais") != "ais":
        return None
    totals = counts.get("totals")
    value = (totals if isinstance(totals, dict) else counts).get("positions")
    return int(value) if isinstance(value, int | float) else None


def feed_warning(engine: Engine, now: datetime) -> str | None:
    """A sentence when the AIS feed looks down (the last ingest failed, or no positions were
    ingested for ``FEED_STALE_H``), else None: an empty queue must not be read as a quiet
    sea when the feed is down. Silent when no ingest run was ever recorded."""
    from pipeline.alerts.queries import recent_runs

    runs = recent_runs(engine, limit=100, stage="ingest")
    if not runs:
        return None
    if runs[0]["status"] != "ok":
        return f"The last ingest run failed: {runs[0]['message'] or 'no message'}."
    fed = [r for r in runs if (_ais_positions(r) or 0) > 0]
    if not fed:
        return "The recent ingest runs took no AIS positions: the feed may be down."
    last = datetime.fromisoformat(fed[0]["finished_at"] or fed[0]["started_at"])
    age_h = (now - last).total_seconds() / 3600
    if age_h > FEED_STALE_H:
        return f"No AIS positions ingested for {age_h:.0f} hours: the feed may be down."
    return None


@router.get("/queue")
def queue(request: Request, user: SignedIn, day: str = "", status: str = "",
          region: str = "", departure: str = "", disposition: str = "", sort: str = "rank"
          ) -> Response:
    from pipeline.alerts.queries import alerts_for_day

    web = web_of(request)
    days = alert_days(web.engine)
    today = datetime.now(UTC).date()
    notice = None
    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        chosen, notice = None, f"{day!r} is not a date (YYYY-MM-DD); showing the latest day."
    if chosen is None:
        chosen = today if (today in days or not days) else days[0]
        if chosen != today and not notice:
            notice = f"No alerts for today ({today.isoformat()}) yet; showing {chosen.isoformat()}."
    alerts = alerts_for_day(web.engine, chosen)
    rows = filter_and_sort(alerts, status, region, departure, disposition, sort)
    names = zone_names(web.settings)
    older = [d for d in days if d < chosen]
    newer = [d for d in days if d > chosen]
    return render(
        request, "queue.html", nav="queue",
        day=chosen, days=days[:60], prev_day=older[0] if older else None,
        next_day=newer[-1] if newer else None, notice=notice,
        rows=rows, total=len(alerts), by_status=Counter(a["status"] for a in alerts),
        statuses=ALERT_STATUSES, dispositions=DISPOSITIONS,
        regions=sorted({a["region"] for a in alerts if a["region"]}),
        departures=sorted({a["departure_zone"] for a in alerts if a["departure_zone"]},
                          key=lambda z: names.get(z, z)),
        zone_names=names,
        f={"status": status, "region": region, "departure": departure,
           "disposition": disposition, "sort": sort if sort in SORTS else "rank"},
        sorts=list(SORTS), feed_warning=feed_warning(web.engine, datetime.now(UTC)),
        one_day=timedelta(days=1),
    )
