"""``zone_dwell``: time inside the area of a configured departure point or offshore holding
area (where Bay of Bengal mother ships wait), with the part of it at night.

A dwell is a run of consecutive positions of one track segment inside the same zone, lasting
at least ``zone_dwell_min_duration_h`` (shorter stays are passages). Overlapping zones each get
their own dwell; ``zone_id`` tells which. Membership is exact (shapely 2 ``contains_xy`` on the
zone's area), tested only on the positions near a zone: a coarse grid of the zones' bounding
boxes picks the candidates in one pass, then each zone's own bounding box.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipeline import geo
from pipeline.config import Zone
from pipeline.events.base import DetectContext, run_events
from pipeline.tracks import F64, I64, US_PER_S, Track

ROLES = ("departure", "holding_area")
GRID_DEG = 0.1  # cell of the candidate grid


def near_zones(lat: F64, lon: F64, zones: list[Zone]) -> I64:
    """Rows whose grid cell touches the bounding box of some zone (a superset of the rows
    inside any zone), in one vectorised pass over all positions."""
    bounds = np.array([z.area.bounds for z in zones])  # minx, miny, maxx, maxy
    x0, y0 = bounds[:, 0].min() - GRID_DEG, bounds[:, 1].min() - GRID_DEG
    x1, y1 = bounds[:, 2].max() + GRID_DEG, bounds[:, 3].max() + GRID_DEG
    nx, ny = int(np.ceil((x1 - x0) / GRID_DEG)) + 1, int(np.ceil((y1 - y0) / GRID_DEG)) + 1
    grid = np.zeros((ny, nx), dtype=bool)
    cx = ((bounds[:, [0, 2]] - x0) / GRID_DEG).astype(np.int64)
    cy = ((bounds[:, [1, 3]] - y0) / GRID_DEG).astype(np.int64)
    for (a, b), (c, d) in zip(cx, cy, strict=True):  # one slice per zone
        grid[c:d + 1, a:b + 1] = True
    inb = np.flatnonzero((lat >= y0) & (lat < y1) & (lon >= x0) & (lon < x1))
    ix = ((lon[inb] - x0) / GRID_DEG).astype(np.int64)
    iy = ((lat[inb] - y0) / GRID_DEG).astype(np.int64)
    return inb[grid[iy, ix]]


def dwell_runs(track: Track, rows: I64) -> tuple[I64, I64]:
    """(first, last) rows of the runs of consecutive rows (one segment) in sorted ``rows``."""
    if not len(rows):
        return rows, rows
    brk = np.ones(len(rows), dtype=bool)
    brk[1:] = (np.diff(rows) != 1) | track.new_segment[rows[1:]]
    starts = np.flatnonzero(brk)
    ends = np.r_[starts[1:] - 1, len(rows) - 1]
    return rows[starts], rows[ends]


def detect_zone_dwell(track: Track, ctx: DetectContext) -> pa.Table:
    """Every dwell of the track in every departure point and holding area."""
    zones = [z for role in ROLES for z in ctx.zones(role)]
    min_us = round(ctx.events.zone_dwell_min_duration_h * 3600 * US_PER_S)
    firsts: list[I64] = []
    lasts: list[I64] = []
    zone_of: list[int] = []
    if len(track) and zones:
        cand = near_zones(track.lat, track.lon, zones)
        clat, clon = track.lat[cand], track.lon[cand]
        for k, z in enumerate(zones):  # dozens of zones; each test is vectorised
            minx, miny, maxx, maxy = z.area.bounds
            box = (clat >= miny) & (clat <= maxy) & (clon >= minx) & (clon <= maxx)
            if not box.any():
                continue
            sel = cand[box]
            first, last = dwell_runs(track, sel[geo.points_in(z.area, track.lat[sel],
                                                               track.lon[sel])])
            keep = track.t[last] - track.t[first] >= min_us
            firsts.append(first[keep])
            lasts.append(last[keep])
            zone_of.extend([k] * int(keep.sum()))
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    last = np.concatenate(lasts) if lasts else np.zeros(0, np.int64)
    zk = np.asarray(zone_of, dtype=np.int64)
    order = np.lexsort((zk, first))  # by vessel and time (rows are sorted so), then zone
    first, last, zk = first[order], last[order], zk[order]
    zone_id = np.array([zones[k].id for k in zk.tolist()], dtype=object)
    return run_events("zone_dwell", track, ctx, first, last, {
        "zone_id": zone_id,
        "detail": [_detail(zones[k]) for k in zk.tolist()],
    }, id_extra=zone_id)


def _detail(z: Zone) -> str:
    size = f"radius {z.radius_km:g} km" if z.radius_km else "drawn polygon"
    return f"inside {z.role.replace('_', ' ')} {z.name} ({size})"
