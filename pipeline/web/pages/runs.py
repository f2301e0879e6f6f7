"""Run health: the latest runs of every stage with their counts, so an analyst can tell a
feed that is down (no ingest, nothing ingested, everything quarantined) from a quiet sea."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pipeline.web import lakeinfo
from pipeline.web.app import SignedIn, render, web_of
from pipeline.web.pages.queue import FEED_STALE_H, feed_warning

router = APIRouter()

STAGE_ORDER = ("ingest", "detect", "features", "score", "alert", "report")
RUNS_SHOWN = 400
PER_STAGE = 10
LAKE_DAYS = 14  # days of positions / quarantine / events counted from the lake


def flat_counts(counts: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested count dicts as ('quarantined.bad_mmsi', 12) pairs, in their stored order."""
    out: list[tuple[str, Any]] = []
    for k, v in (counts or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += flat_counts(v, key + ".")
        elif isinstance(v, list):
            out.append((key, ", ".join(str(x) for x in v[:10])))
        else:
            out.append((key, v))
    return out


@router.get("/runs")
def runs(request: Request, user: SignedIn) -> Response:
    from pipeline.alerts.queries import recent_runs

    web = web_of(request)
    now = datetime.now(UTC)
    rows = recent_runs(web.engine, limit=RUNS_SHOWN)
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        r["flat"] = flat_counts(r.get("counts") or {})
        done = r["finished_at"] or r["started_at"]
        r["age_h"] = (now - datetime.fromisoformat(done)).total_seconds() / 3600
        by_stage.setdefault(r["stage"], []).append(r)
    order = [s for s in STAGE_ORDER if s in by_stage] + sorted(
        s for s in by_stage if s not in STAGE_ORDER)
    days = web.lake.dates("positions")[-LAKE_DAYS:]
    positions = lakeinfo.rows_per_day(web.lake, "positions", days)
    quarantine = lakeinfo.quarantine_by_rule(web.lake, days)
    events = lakeinfo.rows_per_day(web.lake, "events", days)
    rules = sorted({r for q in quarantine.values() for r in q})
    lake_days = [{"day": d, "positions": positions[d], "events": events[d],
                  "quarantined": sum(quarantine[d].values()), "rules": quarantine[d]}
                 for d in reversed(days)]
    return render(request, "runs.html", nav="runs", lake_days=lake_days, rules=rules,
                  stages=[(s, by_stage[s][:PER_STAGE]) for s in order],
                  missing=[s for s in STAGE_ORDER if s not in by_stage],
                  warning=feed_warning(web.engine, now), stale_h=FEED_STALE_H)
