"""The map's base layers from the configuration: coastline, areas of responsibility, zones.

A PIU network may have no internet, so the map uses no tile server: the land polygons of
config/land.geojson (clipped to the active regions) and the configured zones are served as
one GeoJSON document, built once per process and cached by the browser.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import shapely
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from pipeline.config import Settings

COORD_GRID_DEG = 1e-4  # ~11 m: far below the map's precision, a third of the bytes
CLIP_MARGIN_DEG = 3.0  # land shown around the areas of responsibility


def _geojson_geometry(geom: BaseGeometry) -> dict[str, Any]:
    return dict(mapping(shapely.set_precision(geom, COORD_GRID_DEG)))


def base_layers(settings: Settings) -> dict[str, Any]:
    """FeatureCollection: ``layer`` = land | region | zone; zones carry id, name, role,
    region, country, radius_km and their provenance (public sources, shown on click)."""
    features: list[dict[str, Any]] = []
    aors = [r.aor for r in settings.regions.values()]
    if aors:
        minx, miny, maxx, maxy = shapely.union_all(aors).bounds
        frame = box(minx - CLIP_MARGIN_DEG, miny - CLIP_MARGIN_DEG, maxx + CLIP_MARGIN_DEG,
                    maxy + CLIP_MARGIN_DEG)
        land = shapely.intersection(settings.land(), frame)
        if not land.is_empty:
            features.append({"type": "Feature", "properties": {"layer": "land"},
                             "geometry": _geojson_geometry(land)})
    for region in settings.regions.values():
        features.append({
            "type": "Feature",
            "properties": {"layer": "region", "id": region.id, "name": region.name},
            "geometry": _geojson_geometry(region.aor.boundary),
        })
        for z in region.zones:
            features.append({
                "type": "Feature",
                "properties": {
                    "layer": "zone", "id": z.id, "name": z.name, "role": z.role,
                    "region": z.region, "country": z.country, "radius_km": z.radius_km,
                    "provenance": z.provenance,
                },
                "geometry": _geojson_geometry(z.area),
            })
    return {"type": "FeatureCollection", "features": features}


def base_layers_bytes(settings: Settings) -> tuple[bytes, str]:
    """The serialised base layers and their ETag (content hash)."""
    body = json.dumps(base_layers(settings), separators=(",", ":")).encode("utf-8")
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def zone_names(settings: Settings) -> dict[str, str]:
    """zone id -> display name (the queue shows departure points by name)."""
    return {z.id: z.name for z in settings.zones}
