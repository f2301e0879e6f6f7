"""``heading_to_destination``: a sustained course toward a configured destination area.

A run of consecutive positions of one track segment, each making way (SOG at least
``heading_min_sog_kn``) with a course over ground within ``heading_max_bearing_error_deg`` of
the initial great-circle bearing to the nearest point of one destination area, lasting at
least ``heading_min_duration_h``. Destination areas are the zones of the roles in
``DESTINATION_ROLES``: the configured destinations and the landing areas (the simulator and
the public reports send boats to both), of the region whose area of responsibility the
position lies in (positions outside every region have no destination).

Each position is assigned the nearest destination area whose bearing matches, so one run
names one zone (``zone_id``); a run ends where the matching zone changes. Positions inside
any destination area never count (a vessel already there is not heading to it).

Far away, an angle is not enough: 20° off at 1,000 km is a course that misses the area by
340 km (ships on the lanes south of Java point "at" Ashmore or Christmas Island from 1,500 km
for hours). So the course line must also pass within ``heading_max_miss_km`` of the area
(distance to the area x sin(angle off)): the angle decides near the area, the miss distance
far from it.

Closing in: a ship that keeps a matching course only while it is far away and then sails
past does not close in much for the ground it covers. A run is kept only when the distance
to the area shrinks over the run by at least ``heading_min_closing_share`` of the distance
sailed along the run (0.7 by default: a straight course 45° off the line of sight closes
0.71 of what it sails). It also rejects runs whose COG points at the area while the track
does not (noisy or stale COG of slow Class B units).

Row attributes: ``bearing_deg`` = circular mean of the run's courses; ``lat``/``lon`` = the
middle position; ``end_lat``/``end_lon`` = the last position; ``detail`` the distances.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely

from pipeline.config import Zone
from pipeline.events.base import (
    DetectContext,
    make_events,
    median_position,
    runs,
)
from pipeline.geo import EARTH_RADIUS_M, haversine_m, initial_bearing_deg, points_in
from pipeline.schemas import EVENTS
from pipeline.tracks import US_PER_S, Track

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

DESTINATION_ROLES = ("destination", "landing")
MIN_STEP_FOR_BEARING_M = 50.0  # a shorter step is position noise, not a direction


def regional_destinations(ctx: DetectContext, lat: F64, lon: F64
                          ) -> list[tuple[Zone, npt.NDArray[np.int64]]]:
    """(destination area, indices of the points inside its region's area of responsibility):
    a vessel off Java is not 'heading to' a landing in Thailand 3000 km away because its
    course happens to point there. Points outside every region have no destination."""
    out: list[tuple[Zone, npt.NDArray[np.int64]]] = []
    for region in ctx.settings.regions.values():  # a few regions
        zones = [z for role in DESTINATION_ROLES for z in region.zones_by_role(role)]
        if not zones or not len(lat):
            continue
        inside = np.flatnonzero(points_in(region.aor, lat, lon))
        if len(inside):
            out.extend((z, inside) for z in zones)
    return out


def point_bearing_distance(lat: F64, lon: F64, clat: float, clon: float,
                           trig: tuple[F64, F64] | None = None) -> tuple[F64, F64]:
    """(initial bearing deg, great-circle distance m) from many points to one point, sharing
    the trigonometry of both (``trig`` = sin and cos of the points' latitudes, when the
    caller queries many zones for the same points)."""
    sp1, cp1 = trig if trig is not None else (np.sin(np.radians(lat)), np.cos(np.radians(lat)))
    p2 = np.radians(clat)
    sp2, cp2 = np.sin(p2), np.cos(p2)
    dlam = np.radians(clon - lon)
    sd, cd = np.sin(dlam), np.cos(dlam)
    y = sd * cp2
    x = cp1 * sp2 - sp1 * cp2 * cd
    brg = np.mod(np.degrees(np.arctan2(y, x)), 360.0)
    # Vincenty's form of the central angle: accurate at every distance
    ang = np.arctan2(np.hypot(y, x), sp1 * sp2 + cp1 * cp2 * cd)
    return brg, ang * EARTH_RADIUS_M


def zone_bearing_distance(zone: Zone, lat: F64, lon: F64,
                          trig: tuple[F64, F64] | None = None) -> tuple[F64, F64]:
    """(initial bearing to the nearest point of the zone's area, distance to it in metres)
    for many points; bearing NaN and distance 0 inside the area.

    Point zones with a radius are geodesic circles: the nearest point lies on the great
    circle toward the centre, so the bearing is the bearing to the centre and the distance
    is the centre distance minus the radius (exact). Polygons: the nearest point is found
    in a local plane (x = lon * cos(lat), one latitude for the batch, < 1° of bearing error
    for zones a few degrees away in the tropics).
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if zone.geometry.geom_type == "Point" and zone.radius_km:
        clat, clon = zone.centre
        brg, d = point_bearing_distance(lat, lon, clat, clon, trig)
        d = d - zone.radius_km * 1000.0
    else:
        if not len(lat):
            return np.zeros(0), np.zeros(0)
        k = float(np.cos(np.radians(np.nanmedian(lat))))
        area = shapely.transform(zone.area, lambda c: c * np.array([k, 1.0]))
        pts = shapely.points(lon * k, lat)
        near = shapely.get_coordinates(shapely.get_point(shapely.shortest_line(pts, area), 1))
        nlat, nlon = near[:, 1], near[:, 0] / k
        d = haversine_m(lat, lon, nlat, nlon)
        d = np.where(shapely.contains_xy(area, lon * k, lat), 0.0, d)
        brg = initial_bearing_deg(lat, lon, nlat, nlon)
    inside = d <= 0
    return np.where(inside, np.nan, brg), np.maximum(d, 0.0)


def angle_diff_deg(a: F64, b: F64) -> F64:
    """Absolute difference of two bearings, 0..180 (NaN propagates)."""
    return np.asarray(np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0))


def course_deg(track: Track) -> F64:
    """Course of every position: the reported COG, else the bearing of the step into it
    (when that step is long enough to have a direction)."""
    prev_lat = np.r_[np.nan, track.lat[:-1]]
    prev_lon = np.r_[np.nan, track.lon[:-1]]
    moved = ~track.new_vessel & (np.nan_to_num(track.step_m, nan=0.0) >= MIN_STEP_FOR_BEARING_M)
    step_brg = np.where(moved, initial_bearing_deg(prev_lat, prev_lon, track.lat, track.lon),
                        np.nan)
    return np.where(np.isfinite(track.cog), track.cog, step_brg)


def run_rows(first: I64, last: I64) -> I64:
    """Rows ``first..last`` (inclusive) of every run, concatenated (vectorised arange)."""
    steps = last - first + 1
    return np.repeat(first, steps) + (np.arange(int(steps.sum()))
                                      - np.repeat(np.cumsum(steps) - steps, steps))


def run_sum(values: F64, first: I64, last: I64) -> F64:
    """Sum of ``values[first..last]`` for many non-empty runs, each summed on its own rows
    (unlike a running sum over the whole track, the result does not depend on the other
    vessels in the track, so shards give the same bits as one process)."""
    if not len(first):
        return np.zeros(0)
    rows = run_rows(first, last)
    offsets = np.r_[0, np.cumsum(last - first + 1)[:-1]]
    return np.asarray(np.add.reduceat(values[rows], offsets), dtype=np.float64)


def circular_mean_deg(deg: F64, first: I64, last: I64) -> F64:
    """Mean direction of ``deg[first..last]`` for many intervals (NaNs ignored)."""
    r = np.radians(deg)
    ok = np.isfinite(r)
    s = run_sum(np.where(ok, np.sin(r), 0.0), first, last)
    c = run_sum(np.where(ok, np.cos(r), 0.0), first, last)
    out = np.mod(np.degrees(np.arctan2(s, c)), 360.0)
    return np.where((s == 0) & (c == 0), np.nan, out)


def run_night_hours(track: Track, ctx: DetectContext, first: I64, last: I64) -> F64:
    """Hours at night inside each run of rows ``first..last`` (first < last; the sun is
    computed only for the rows of the runs, a small share of the track)."""
    rows = run_rows(first, last)
    night = np.zeros(len(track), dtype=bool)
    night[rows] = ctx.night(track.t[rows], track.lat[rows], track.lon[rows])
    dt_next = np.r_[np.nan_to_num(track.dt_s[1:], nan=0.0), 0.0] / 3600
    # the time from each position to the next counts as night when the position is at night
    # (runs here are at least two positions long: first < last)
    return run_sum(np.where(night, dt_next, 0.0), first, last - 1)


def detect_heading_to_destination(track: Track, ctx: DetectContext) -> pa.Table:
    """Sustained runs of making way toward a destination area (see module doc)."""
    ev = ctx.events
    n = len(track)
    if n == 0:
        return EVENTS.empty_table()
    course = course_deg(track)
    cand = np.flatnonzero((np.nan_to_num(track.sog, nan=-1.0) >= ev.heading_min_sog_kn)
                          & np.isfinite(course))
    pairs = regional_destinations(ctx, track.lat[cand], track.lon[cand])
    if not pairs:
        return EVENTS.empty_table()
    zones = [z for z, _ in pairs]
    # per candidate row: the nearest destination area whose bearing matches the course
    target = np.full(n, -1, dtype=np.int64)
    inside_any = np.zeros(n, dtype=bool)
    dist = np.full(n, np.inf)
    best = np.full(len(cand), np.inf)
    phi = np.radians(track.lat[cand])
    sin_c, cos_c = np.sin(phi), np.cos(phi)
    for zi, (z, sel) in enumerate(pairs):  # dozens of zones, each vectorised over the rows
        rows = cand[sel]
        brg, d = zone_bearing_distance(z, track.lat[rows], track.lon[rows],
                                       (sin_c[sel], cos_c[sel]))
        inside_any[rows[d <= 0]] = True
        err = angle_diff_deg(course[rows], brg)
        miss = d * np.sin(np.radians(np.minimum(np.nan_to_num(err, nan=180.0), 90.0)))
        ok = (err <= ev.heading_max_bearing_error_deg) & (miss <= ev.heading_max_miss_km * 1000)
        better = ok & (d < best[sel])
        best[sel[better]] = d[better]
        target[rows[better]] = zi
    dist[cand] = best
    flag = (target >= 0) & ~inside_any
    # a run stays on one segment and one zone
    group = track.segment * (len(zones) + 1) + (target + 1)
    first, last = runs(group, flag)
    dur_us = track.t[last] - track.t[first]
    keep = dur_us >= ev.heading_min_duration_h * 3600 * US_PER_S
    first, last = first[keep], last[keep]
    sailed = run_sum(np.nan_to_num(track.step_m, nan=0.0), first + 1, last)
    closed = dist[first] - dist[last]
    keep = closed >= ev.heading_min_closing_share * sailed
    first, last = first[keep], last[keep]
    if not len(first):
        return EVENTS.empty_table()
    zone_ids = np.asarray([zones[i].id for i in target[first].tolist()], dtype=object)
    names = [zones[i].name for i in target[first].tolist()]
    lat, lon = median_position(track, first, last)
    mean_course = circular_mean_deg(course, first, last)
    _, dep_m = ctx.nearest_zone("departure", lat, lon)
    detail = [
        f"toward {zid} ({nm}): {d0 / 1000:.1f} km -> {d1 / 1000:.1f} km "
        f"over {s / 1000:.1f} km sailed, mean course {c:.0f} deg"
        for zid, nm, d0, d1, s, c in zip(zone_ids.tolist(), names, dist[first].tolist(),
                                          dist[last].tolist(), sailed[keep].tolist(),
                                          mean_course.tolist(), strict=True)
    ]
    return make_events(
        "heading_to_destination",
        track.mmsi[first],
        track.t[first],
        track.t[last],
        {
            "lat": lat, "lon": lon,
            "end_lat": track.lat[last], "end_lon": track.lon[last],
            "zone_id": zone_ids,
            "night_h": run_night_hours(track, ctx, first, last),
            "positions": last - first + 1,
            "distance_to_shore_m": ctx.distance_to_shore_m(lat, lon),
            "distance_to_departure_m": np.where(np.isfinite(dep_m), dep_m, np.nan),
            "bearing_deg": mean_course,
            "detail": detail,
        },
        id_extra=zone_ids,
    )
