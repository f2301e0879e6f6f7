"""Map data for the browser: the base layers from the configuration (coastline, regions,
zones) and an alert's evidence (track, events, dark-gap links, encounter partners)."""

from __future__ import annotations

import gzip
import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from pipeline.web.app import SignedIn, web_of
from pipeline.web.geodata import base_layers_bytes
from pipeline.web.pages.alerts import alert_end

router = APIRouter()


@router.get("/api/geodata/base.geojson")
def base_geojson(request: Request, _user: SignedIn) -> Response:
    """Coastline, regions and zones (built once per process, compressed once, cached by the
    browser for an hour and revalidated by ETag)."""
    web = web_of(request)
    if "base_layers" not in web.cache:
        body, etag = base_layers_bytes(web.settings)
        web.cache["base_layers"] = (body, gzip.compress(body, 6), etag)
    body, packed, etag = web.cache["base_layers"]
    headers = {"ETag": etag, "Cache-Control": "private, max-age=3600",
               "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="application/geo+json",
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type="application/geo+json", headers=headers)


@router.get("/api/alerts/{alert_id}/evidence.geojson")
def alert_evidence(request: Request, _user: SignedIn, alert_id: str,
                   hours: Annotated[int, Query(ge=0)] = 0) -> Response:
    from pipeline.alerts.evidence import alert_evidence_geojson
    from pipeline.alerts.queries import get_alert

    web = web_of(request)
    alert = get_alert(web.engine, alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    hours = min(hours or web.settings.web.map_default_hours, web.settings.web.map_max_hours)
    doc = alert_evidence_geojson(web.lake, web.settings, int(alert["mmsi"]), alert_end(alert),
                                 hours=hours)
    body = json.dumps(doc, separators=(",", ":"), allow_nan=False, default=str)
    return Response(body, media_type="application/geo+json",
                    headers={"Cache-Control": "private, max-age=60"})
