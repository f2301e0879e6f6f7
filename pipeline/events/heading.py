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

from pipeline.config import EventSettings, Zone
from pipeline.events.base import (
    DetectContext,
    interval_sum,
    make_events,
    median_position,
    run_night_hours,
    run_rows,
    runs,
    sum_on_runs,
)
from pipeline.geo import EARTH_RADIUS_M, haversine_m, initial_bearing_deg, points_in
from pipeline.schemas import EVENTS
from pipeline.tracks import F64, I64, US_PER_S, B, Track

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
    (when that step is long enough to have a direction). The bearing is computed only for
    the rows without a COG (a small share): trigonometry over the whole track is slow."""
    moved = ~track.new_vessel & (np.nan_to_num(track.step_m, nan=0.0) >= MIN_STEP_FOR_BEARING_M)
    out = np.array(track.cog, dtype=np.float64)
    no_cog = ~np.isfinite(out)
    out[no_cog] = np.nan
    fill = np.flatnonzero(no_cog & moved)  # never row 0: a track starts with a new vessel
    out[fill] = initial_bearing_deg(track.lat[fill - 1], track.lon[fill - 1], track.lat[fill],
                                    track.lon[fill])
    return out


def circular_mean_deg(deg: F64, first: I64, last: I64) -> F64:
    """Mean direction of ``deg[first..last]`` for many intervals (NaNs ignored)."""
    if not len(first):
        return np.zeros(0)
    rows, run = run_rows(first, last)
    r = np.radians(deg[rows])
    ok = np.isfinite(r)
    s = sum_on_runs(np.where(ok, np.sin(r), 0.0), run, len(first))
    c = sum_on_runs(np.where(ok, np.cos(r), 0.0), run, len(first))
    out = np.mod(np.degrees(np.arctan2(s, c)), 360.0)
    return np.where((s == 0) & (c == 0), np.nan, out)


AIM_CHUNK = 1 << 20  # rows per block of the cheap test (small temporaries are cheaper)
AIM_SLACK_M = 1_000.0  # the cheap test keeps rows this much beyond what the exact test needs
AIM_SLACK_DEG = 0.5  # ... and this much beyond the bearing error
AIM_EPS = 1e-5  # bound on the float32 rounding of the unit-vector products (~1e-6)


def aimed_rows(lat: F64, lon: F64, course: F64, circles: list[tuple[float, float, float]],
               max_err_deg: float, max_miss_m: float) -> list[I64]:
    """For each circular area (centre lat, lon, radius m): the rows that may pass the exact
    test of ``destination_targets`` (bearing error and miss distance) or lie inside the area,
    a superset found with a few float32 multiplications per row and area (the exact test in
    float64 then decides on the few rows kept).

    With unit vectors p (position), t (course direction), n = p x t (pole of the course's
    great circle) and c (area centre), central angle a and bearing error e: n.c = sin a sin e,
    t.c = sin a cos e, p.c = cos a. A row passing the exact test (e <= E, (R a - r) sin e <= M)
    has |n.c| <= a sin e <= (M + r sin E) / R; a row inside (R a <= r) has |n.c| <= r / R and
    p.c >= cos(r / R); e <= E means (t.c) sin E >= |n.c| cos E. Every test is widened by
    ``AIM_SLACK_M`` / ``AIM_SLACK_DEG`` and by ``AIM_EPS`` for float32 rounding.
    """
    m, k = len(lat), len(circles)
    if not m or not k:
        return [np.zeros(0, np.int64) for _ in circles]
    clat = np.radians(np.array([c[0] for c in circles], dtype=np.float64))
    clon = np.radians(np.array([c[1] for c in circles], dtype=np.float64))
    radius = np.array([c[2] for c in circles], dtype=np.float64)
    cvec = np.stack([np.cos(clat) * np.cos(clon), np.cos(clat) * np.sin(clon), np.sin(clat)],
                    axis=1).astype(np.float32)  # areas x 3
    sin_err = float(np.sin(np.radians(min(max_err_deg, 90.0))))
    thr_n = ((np.maximum(max_miss_m + radius * sin_err, radius) + AIM_SLACK_M) / EARTH_RADIUS_M
             + AIM_EPS).astype(np.float32)
    cos_in = (np.cos(np.minimum((radius + AIM_SLACK_M) / EARTH_RADIUS_M, np.pi))
              - AIM_EPS).astype(np.float32)
    e_slack = np.radians(min(max_err_deg + AIM_SLACK_DEG, 180.0))
    sin_e, cos_e = np.float32(np.sin(e_slack)), np.float32(np.cos(e_slack))
    found: list[list[I64]] = [[] for _ in circles]
    for a in range(0, m, AIM_CHUNK):
        phi = np.radians(lat[a:a + AIM_CHUNK].astype(np.float32))
        lam = np.radians(lon[a:a + AIM_CHUNK].astype(np.float32))
        crs = np.radians(course[a:a + AIM_CHUNK].astype(np.float32))
        sp, cp, sl, cl = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
        sc, cc = np.sin(crs), np.cos(crs)
        spcl, spsl = sp * cl, sp * sl
        # n = -cos(course) east + sin(course) north, east = (-sl, cl, 0),
        # north = (-sp cl, -sp sl, cp)
        nc = cvec @ np.stack([cc * sl - sc * spcl, -cc * cl - sc * spsl, sc * cp])  # areas x rows
        for zi in range(k):
            q = np.flatnonzero(np.abs(nc[zi]) <= thr_n[zi])
            if not len(q):
                continue
            cx, cy, cz = cvec[zi]
            b = np.abs(nc[zi, q])
            tc = (cx * (-cc[q] * spcl[q] - sc[q] * sl[q]) + cy * (sc[q] * cl[q] - cc[q] * spsl[q])
                  + cz * cc[q] * cp[q])
            pc = cp[q] * (cx * cl[q] + cy * sl[q]) + cz * sp[q]
            keep = (tc * sin_e - b * cos_e >= -AIM_EPS) | (pc >= cos_in[zi])
            found[zi].append(q[keep] + a)
    return [np.concatenate(f) if f else np.zeros(0, np.int64) for f in found]


def destination_targets(track: Track, course: F64, cand: I64,
                        pairs: list[tuple[Zone, I64]], ev: EventSettings
                        ) -> tuple[I64, B, F64]:
    """Per row: index into ``pairs`` of the nearest destination area whose bearing and miss
    distance match the course (-1: none), whether the row lies inside any of the areas, and
    the distance to the matched area (inf: none). Only ``cand`` rows are examined.

    The exact test runs on the rows ``aimed_rows`` keeps for circular areas (a few percent of
    the candidates) and on every row for polygons (their nearest point is found in a plane
    fitted to the batch, so the batch must stay whole)."""
    n = len(track)
    target = np.full(n, -1, dtype=np.int64)
    inside_any = np.zeros(n, dtype=bool)
    dist = np.full(n, np.inf)
    best = np.full(len(cand), np.inf)
    circular = [zi for zi, (z, _) in enumerate(pairs)
                if z.geometry.geom_type == "Point" and z.radius_km]
    aimed = aimed_rows(track.lat[cand], track.lon[cand], course[cand],
                       [(*pairs[zi][0].centre, float(pairs[zi][0].radius_km or 0) * 1000.0)
                        for zi in circular],
                       ev.heading_max_bearing_error_deg, ev.heading_max_miss_km * 1000)
    subset = dict(zip(circular, aimed, strict=True))
    members: dict[int, B] = {}  # rows of a region, shared by its areas
    for zi, (z, sel) in enumerate(pairs):  # dozens of zones, each vectorised over the rows
        if zi in subset:
            if id(sel) not in members:
                members[id(sel)] = np.zeros(len(cand), dtype=bool)
                members[id(sel)][sel] = True
            q = subset[zi]
            sel = q[members[id(sel)][q]]
        rows = cand[sel]
        lat = track.lat[rows]
        phi = np.radians(lat)
        brg, d = zone_bearing_distance(z, lat, track.lon[rows], (np.sin(phi), np.cos(phi)))
        inside_any[rows[d <= 0]] = True
        err = angle_diff_deg(course[rows], brg)
        miss = d * np.sin(np.radians(np.minimum(np.nan_to_num(err, nan=180.0), 90.0)))
        ok = (err <= ev.heading_max_bearing_error_deg) & (miss <= ev.heading_max_miss_km * 1000)
        better = ok & (d < best[sel])
        best[sel[better]] = d[better]
        target[rows[better]] = zi
    dist[cand] = best
    return target, inside_any, dist


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
    target, inside_any, dist = destination_targets(track, course, cand, pairs, ev)
    flag = (target >= 0) & ~inside_any
    # a run stays on one segment and one zone
    group = track.segment * (len(zones) + 1) + (target + 1)
    first, last = runs(group, flag)
    dur_us = track.t[last] - track.t[first]
    keep = dur_us >= ev.heading_min_duration_h * 3600 * US_PER_S
    first, last = first[keep], last[keep]
    sailed = interval_sum(np.nan_to_num(track.step_m, nan=0.0), first + 1, last)
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
