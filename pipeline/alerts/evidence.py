"""The evidence map of an alert as GeoJSON: what the vessel did in the hours before the alert.

One FeatureCollection per vessel and time window, drawn by the web app (Leaflet) and by the
daily report (inline SVG, pipeline/alerts/svgmap.py), so both show the same thing. Positions
are read once for all vessels of a report (``evidence_collections``) with a Parquet filter on
the MMSI and handled as numpy arrays; the only Python loops run over vessels and events, never
over positions.

Every feature has ``properties.kind``; times are ISO 8601 UTC strings, numbers are floats or
null (never NaN), coordinates are [lon, lat] rounded to 5 decimals (about 1 m):

========================  ===========  =======================================================
kind                      geometry     properties (besides ``kind``)
========================  ===========  =======================================================
``track``                 LineString   mmsi, start, end, positions: one stretch of track
                                       without a silence of ``events.dark_gap_min_h`` or more
``position``              Point        mmsi, time, sog_kn, cog_deg, night: thinned positions
                                       (at most ``max_positions`` per vessel, evenly in time)
``track_start``           Point        mmsi, time: first position of the window
``track_end``             Point        mmsi, time, sog_kn, cog_deg: last position
``zone``                  Polygon      zone_id, name, role, region, distance_km (nearest
                                       approach of the track; null without positions)
``loiter``                Polygon or   the event properties below; Polygon = convex hull of
                          Point        the positions during the event when it has an area
``zone_dwell``            Point        event properties (zone_id = the departure zone)
``dark_gap_vanish``       Point        event properties: where the vessel fell silent
``dark_gap_reappear``     Point        event properties: where it was received again
``gap_link``              LineString   event properties: vanish → reappear (draw dashed)
``encounter``             Point        event properties (partner_mmsi)
``partner_track``         LineString   event properties: the partner's positions over the
                                       encounter interval
``port_visit``            Point        event properties (zone_id = port LOCODE or name)
``identity_conflict``     Point/null   event properties (detail says what conflicted)
``heading_to_destination`` LineString  event properties: first → last position of the run
========================  ===========  =======================================================

Event properties: event_id, event_type, mmsi, start, end, duration_h, night_h, zone_id,
zone_name, partner_mmsi, open, detail (AIS text inside ``detail`` is untrusted). The
collection carries ``bbox`` and a foreign member ``window`` {mmsi, start, end, hours, region,
glitches_removed}: isolated impossible jumps (``events.max_implied_speed_kn``) are left out,
as the detectors leave them out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from pipeline.config import Settings, Zone
from pipeline.geo import haversine_m, points_in
from pipeline.lake import Lake
from pipeline.night import is_night
from pipeline.schemas import EVENTS, POSITIONS, real_time
from pipeline.tracks import glitch_mask

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

COORD_DECIMALS = 5  # ~1 m: far below AIS precision, keeps the file small
MAX_POSITIONS = 400  # thinned position markers per vessel on the map
TRACK_SIMPLIFY_DEG = 2e-4  # ~20 m: Douglas-Peucker tolerance of the track lines
POSITION_COLUMNS = ["mmsi", "timestamp", "lat", "lon", "sog_kn", "cog_deg"]
US = 1_000_000

FEATURE_KINDS = (
    "track", "position", "track_start", "track_end", "zone", "loiter", "zone_dwell",
    "dark_gap_vanish", "dark_gap_reappear", "gap_link", "encounter", "partner_track",
    "port_visit", "identity_conflict", "heading_to_destination",
)


# --------------------------------------------------------------------------- small helpers


def _iso(us: int | float | None) -> str | None:
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return None
    return datetime.fromtimestamp(int(us) / US, UTC).isoformat().replace("+00:00", "Z")


def _num(value: Any, digits: int = 3) -> float | None:
    """JSON-safe float: None for null/NaN, rounded otherwise."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else round(f, digits)


def _geometry(geom: BaseGeometry) -> dict[str, Any]:
    rounded = shapely.set_precision(geom, 10.0 ** -COORD_DECIMALS)
    return dict(mapping(rounded))


def _feature(kind: str, geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, **props}}


def _us(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: pass a tz-aware UTC time")
    return round(ts.timestamp() * US)


def _days(start: datetime, end: datetime) -> list[date]:
    """UTC days of the half-open window [start, end): a later day's partition is never read,
    so the map of a day does not change when the next day is processed."""
    d0 = start.astimezone(UTC).date()
    d1 = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [d0 + timedelta(days=i) for i in range((d1 - d0).days + 1)]


# --------------------------------------------------------------------------- lake reads


def read_positions(lake: Lake, mmsis: Iterable[int], start: datetime, end: datetime
                   ) -> pa.Table:
    """Positions of the given vessels in [start, end), sorted by (mmsi, time); positions
    whose time is only a date are left out, as from tracks (they would draw jumps to 00:00).

    The partitions are sorted by MMSI, so the Parquet filter skips the row groups of other
    vessels instead of reading whole days."""
    wanted = sorted({int(m) for m in mmsis})
    parts = []
    for day in _days(start, end):
        path = lake.partition_path("positions", day)
        if not wanted or not lake.has_partition("positions", day):
            continue
        part = pq.read_table(path, filesystem=lake.fs, schema=POSITIONS,
                             columns=[*POSITION_COLUMNS, "time_source"],
                             filters=[("mmsi", "in", wanted)])
        timed = real_time(part)
        parts.append((part if timed is None else part.filter(timed)).select(POSITION_COLUMNS))
    if not parts:
        return pa.schema([POSITIONS.field(c) for c in POSITION_COLUMNS]).empty_table()
    table = pa.concat_tables(parts)
    ts = table["timestamp"]
    keep = pc.and_(pc.greater_equal(ts, pa.scalar(start, ts.type)),
                   pc.less(ts, pa.scalar(end, ts.type)))
    return table.filter(keep).sort_by([("mmsi", "ascending"), ("timestamp", "ascending")])


def read_events(lake: Lake, mmsis: Iterable[int], start: datetime, end: datetime
                ) -> pd.DataFrame:
    """Events of the vessels overlapping [start, end], one row per event id.

    An event still open at the end of a day is written again, whole, on the day it ends: the
    copy from the latest partition wins. Events of a later day cannot overlap the window."""
    wanted = pa.array(sorted({int(m) for m in mmsis}), pa.int64())
    parts = []
    for day in _days(start, end):
        t = lake.read_partition("events", day)
        t = t.filter(pc.is_in(t["mmsi"], wanted))
        if t.num_rows:
            parts.append(t.append_column("_day", pa.array([day.toordinal()] * t.num_rows,
                                                          pa.int64())))
    if not parts:
        return pd.DataFrame(columns=[*EVENTS.names, "_day"])
    table = pa.concat_tables(parts)
    keep = pc.and_(pc.less_equal(table["start_time"], pa.scalar(end, table["start_time"].type)),
                   pc.greater_equal(table["end_time"],
                                    pa.scalar(start, table["end_time"].type)))
    frame = table.filter(keep).to_pandas()
    frame = frame.sort_values(["event_id", "_day"]).drop_duplicates("event_id", keep="last")
    return frame.sort_values(["mmsi", "start_time", "event_type", "event_id"]).reset_index(
        drop=True)


# --------------------------------------------------------------------------- geometry builders


def _thin(t: I64, max_points: int) -> I64:
    """Indices of at most ``max_points`` rows spread evenly in time (first and last kept)."""
    n = len(t)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    span = max(int(t[-1] - t[0]), 1)
    bucket = ((t - t[0]) * (max_points - 1) // span).astype(np.int64)
    _, first = np.unique(bucket, return_index=True)
    return np.unique(np.r_[first, n - 1]).astype(np.int64)


def _track_features(mmsi: int, t: I64, lat: F64, lon: F64, sog: F64, cog: F64,
                    split_gap_s: float, night_deg: float, max_points: int
                    ) -> list[dict[str, Any]]:
    """LineStrings split at silences, thinned position markers, first and last position."""
    n = len(t)
    if n == 0:
        return []
    out: list[dict[str, Any]] = []
    gap = np.r_[False, np.diff(t) > split_gap_s * US]
    seg = np.cumsum(gap)
    counts = np.bincount(seg)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    multi = counts[seg] >= 2  # a one-position stretch has no line: its marker shows it
    if multi.any():
        coords = np.column_stack([lon[multi], lat[multi]])
        lines = shapely.linestrings(coords, indices=seg[multi])
        lines = shapely.simplify(lines, TRACK_SIMPLIFY_DEG, preserve_topology=False)
        line_segs = np.unique(seg[multi])
        for line, s in zip(lines, line_segs, strict=True):
            a, b = int(starts[s]), int(starts[s] + counts[s] - 1)
            out.append(_feature("track", _geometry(line), mmsi=mmsi, start=_iso(t[a]),
                                end=_iso(t[b]), positions=int(counts[s])))
    keep = _thin(t, max_points)
    night = is_night(t[keep], lat[keep], lon[keep], night_deg)
    pts = shapely.points(lon[keep], lat[keep])
    for i, p, nt in zip(keep.tolist(), pts, night.tolist(), strict=True):
        out.append(_feature("position", _geometry(p), mmsi=mmsi, time=_iso(t[i]),
                            sog_kn=_num(sog[i], 1), cog_deg=_num(cog[i], 0), night=bool(nt)))
    out.append(_feature("track_start", _geometry(shapely.Point(lon[0], lat[0])), mmsi=mmsi,
                        time=_iso(t[0])))
    out.append(_feature("track_end", _geometry(shapely.Point(lon[-1], lat[-1])), mmsi=mmsi,
                        time=_iso(t[-1]), sog_kn=_num(sog[-1], 1), cog_deg=_num(cog[-1], 0)))
    return out


def _event_props(ev: dict[str, Any], settings: Settings) -> dict[str, Any]:
    zone_id = ev.get("zone_id")
    zone_id = None if zone_id is None or (isinstance(zone_id, float) and math.isnan(zone_id)) \
        else str(zone_id)
    zone = settings.zone(zone_id) if zone_id else None
    partner = ev.get("partner_mmsi")
    partner = None if partner is None or pd.isna(partner) else int(partner)
    detail = ev.get("detail")
    return {
        "event_id": str(ev["event_id"]), "event_type": str(ev["event_type"]),
        "mmsi": int(ev["mmsi"]),
        "start": _iso(pd.Timestamp(ev["start_time"]).value // 1000),
        "end": _iso(pd.Timestamp(ev["end_time"]).value // 1000),
        "duration_h": _num(ev.get("duration_h"), 2), "night_h": _num(ev.get("night_h"), 2),
        "zone_id": zone_id, "zone_name": zone.name if zone else None,
        "partner_mmsi": partner, "open": bool(ev.get("open")),
        "detail": None if detail is None or pd.isna(detail) else str(detail),
    }


def _point(lat: Any, lon: Any) -> dict[str, Any] | None:
    la, lo = _num(lat, COORD_DECIMALS), _num(lon, COORD_DECIMALS)
    return None if la is None or lo is None else {"type": "Point", "coordinates": [lo, la]}


def _slice(t: I64, start_us: int, end_us: int) -> slice:
    return slice(int(np.searchsorted(t, start_us, "left")),
                 int(np.searchsorted(t, end_us, "right")))


def _event_features(events: pd.DataFrame, own: dict[str, np.ndarray],
                    others: dict[int, dict[str, np.ndarray]], settings: Settings
                    ) -> list[dict[str, Any]]:
    """One or more features per event (a loop over the vessel's events, not its positions)."""
    out: list[dict[str, Any]] = []
    for ev in events.to_dict("records"):
        props = _event_props(ev, settings)
        kind = props["event_type"]
        s_us = pd.Timestamp(ev["start_time"]).value // 1000
        e_us = pd.Timestamp(ev["end_time"]).value // 1000
        here = _point(ev.get("lat"), ev.get("lon"))
        if kind == "dark_gap":
            out.append(_feature("dark_gap_vanish", here, **props))
            back = _point(ev.get("end_lat"), ev.get("end_lon"))
            if back is not None:
                out.append(_feature("dark_gap_reappear", back, **props))
                if here is not None:
                    out.append(_feature("gap_link", {"type": "LineString", "coordinates": [
                        here["coordinates"], back["coordinates"]]}, **props))
        elif kind == "loiter":
            sl = _slice(own["t"], s_us, e_us)
            geom: dict[str, Any] | None = here
            if sl.stop - sl.start >= 3:
                hull = shapely.convex_hull(shapely.multipoints(
                    np.column_stack([own["lon"][sl], own["lat"][sl]])))
                if hull.geom_type == "Polygon" and hull.area > 1e-8:
                    geom = _geometry(hull)
            out.append(_feature("loiter", geom, **props))
        elif kind == "encounter":
            out.append(_feature("encounter", here, **props))
            partner = others.get(props["partner_mmsi"] or -1)
            if partner is not None:
                sl = _slice(partner["t"], s_us, e_us)
                if sl.stop - sl.start >= 2:
                    line = shapely.linestrings(
                        np.column_stack([partner["lon"][sl], partner["lat"][sl]]))
                    out.append(_feature("partner_track", _geometry(line), **props))
        elif kind == "heading_to_destination":
            back = _point(ev.get("end_lat"), ev.get("end_lon"))
            geom = here
            if here is not None and back is not None:
                geom = {"type": "LineString",
                        "coordinates": [here["coordinates"], back["coordinates"]]}
            out.append(_feature("heading_to_destination", geom, **props))
        elif kind in ("zone_dwell", "port_visit", "identity_conflict"):
            out.append(_feature(kind, here, **props))
        else:  # an event type added later: still shown, as a point
            out.append(_feature(kind, here, **props))
    return out


def _region_of(settings: Settings, lat: F64, lon: F64, hint: str | None) -> str | None:
    if hint and hint in settings.regions:
        return hint
    if len(lat) == 0:
        return None
    best, most = None, 0
    for rid, region in settings.regions.items():
        n = int(points_in(region.aor, lat, lon).sum())
        if n > most:
            best, most = rid, n
    return best


def _zone_features(zones: Sequence[Zone], lat: F64, lon: F64) -> list[dict[str, Any]]:
    out = []
    for z in zones:
        dist = None
        if len(lat):
            inside = points_in(z.area, lat, lon)
            if inside.any():
                dist = 0.0
            else:
                clat, clon = z.centre
                d = haversine_m(lat, lon, clat, clon).min() / 1000 - (z.radius_km or 0.0)
                dist = max(float(d), 0.0)
        out.append(_feature("zone", _geometry(z.area), zone_id=z.id, name=z.name, role=z.role,
                            region=z.region, distance_km=_num(dist, 1)))
    return out


def _bbox(features: list[dict[str, Any]]) -> list[float] | None:
    geoms = [shapely.geometry.shape(f["geometry"]) for f in features
             if f["geometry"] is not None and f["properties"]["kind"] != "zone"]
    if not geoms:
        return None
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(geoms, dtype=object))
    return [round(float(v), COORD_DECIMALS) for v in (minx, miny, maxx, maxy)]


# --------------------------------------------------------------------------- public API


def evidence_collections(
    lake: Lake,
    settings: Settings,
    mmsis: Sequence[int],
    end_time: datetime,
    hours: float = 48,
    regions: dict[int, str | None] | None = None,
    max_positions: int = MAX_POSITIONS,
) -> dict[int, dict[str, Any]]:
    """Evidence FeatureCollections of several vessels over the same window (one read of the
    lake for all of them: the daily report's case). ``regions`` optionally names each
    vessel's region (the alert's); otherwise it is the region holding most of its track."""
    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    if end_time.tzinfo is None:
        raise ValueError(f"naive end_time {end_time!r}: pass a tz-aware UTC time")
    end = end_time.astimezone(UTC)
    start = end - timedelta(hours=hours)
    events = read_events(lake, mmsis, start, end)
    partners = set()
    if len(events):
        enc = events[events["event_type"] == "encounter"]["partner_mmsi"].dropna()
        partners = {int(p) for p in enc}
    table = read_positions(lake, [*mmsis, *partners], start, end)
    ids = table["mmsi"].to_numpy()
    t_all = pc.cast(table["timestamp"], pa.int64()).to_numpy()

    def col(name: str) -> F64:
        arr = pc.fill_null(pc.cast(table[name], pa.float64()), np.nan)
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)

    lat_all, lon_all, sog_all, cog_all = col("lat"), col("lon"), col("sog_kn"), col("cog_deg")
    # isolated impossible jumps are dropped as the detectors drop them (pipeline.tracks)
    bad = glitch_mask(ids, t_all, lat_all, lon_all, settings.events.max_implied_speed_kn)
    glitched = ids[bad]
    if bad.any():
        keep = ~bad
        ids, t_all, lat_all, lon_all, sog_all, cog_all = (
            a[keep] for a in (ids, t_all, lat_all, lon_all, sog_all, cog_all))

    def arrays(m: int) -> dict[str, np.ndarray]:
        sl = slice(int(np.searchsorted(ids, m, "left")), int(np.searchsorted(ids, m, "right")))
        return {"t": t_all[sl], "lat": lat_all[sl], "lon": lon_all[sl], "sog": sog_all[sl],
                "cog": cog_all[sl]}

    split_gap_s = min(settings.events.dark_gap_min_h, settings.events.segment_gap_h) * 3600
    out: dict[int, dict[str, Any]] = {}
    for m in dict.fromkeys(int(x) for x in mmsis):
        own = arrays(m)
        vessel_events = events[events["mmsi"] == m] if len(events) else events
        vessel_partners = {int(p) for p in vessel_events.get("partner_mmsi", pd.Series())
                           .dropna()} if len(vessel_events) else set()
        others = {p: arrays(p) for p in vessel_partners}
        region = _region_of(settings, own["lat"], own["lon"], (regions or {}).get(m))
        features = _track_features(m, own["t"], own["lat"], own["lon"], own["sog"],
                                   own["cog"], split_gap_s,
                                   settings.events.night_sun_elevation_deg, max_positions)
        features += _event_features(vessel_events, own, others, settings)
        zones = settings.regions[region].zones if region else ()
        zone_feats = _zone_features(zones, own["lat"], own["lon"])
        out[m] = {
            "type": "FeatureCollection",
            "bbox": _bbox(features),
            "window": {"mmsi": m, "start": _iso(_us(start)), "end": _iso(_us(end)),
                       "hours": hours, "region": region,
                       "glitches_removed": int((glitched == m).sum())},
            "features": zone_feats + features,
        }
    return out


def alert_evidence_geojson(
    lake: Lake, settings: Settings, mmsi: int, end_time: datetime, hours: float = 48
) -> dict[str, Any]:
    """The vessel's track, events and its region's zones over ``hours`` before ``end_time``
    as a GeoJSON FeatureCollection (see the module docstring for the properties)."""
    return evidence_collections(lake, settings, [int(mmsi)], end_time, hours)[int(mmsi)]
