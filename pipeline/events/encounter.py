"""``encounter``: two vessels close together, both slow, away from ports, for a while.

Never quadratic in the number of vessels. Three steps, each vectorised:

1. ``resample``: every vessel's track onto a global time grid (multiples of
   ``encounter_time_step_min`` since the epoch, so every vessel, day and tile shares it);
   positions and speeds are interpolated linearly between consecutive fixes of one segment at
   most ``encounter_max_interp_gap_h`` apart, never across a longer silence. Only slow grid
   points (SOG ≤ ``encounter_max_sog_kn``; implied speed when SOG is missing) at least
   ``encounter_min_port_distance_km`` from every configured port and anchorage are kept.
2. ``close_pairs``: grid points are bucketed by (time bin, cell). Cells are rows of
   ``encounter_max_distance_m`` in latitude; within a row, columns are at least that wide at
   the row's poleward edge, so two points within the distance lie in the same cell, the next
   column, or one of three columns of the next row. Each point looks up exactly those five
   keys (an integer-key self-join: sort + searchsorted), so every pair is found once by its
   *owner*: the point in the lower row, else the left column, else the lower point index.
   Distances are computed only for these candidates. Near-coast encounters are kept on
   purpose (GFW drops them; transfers off departure beaches are what we must catch). Points
   with more than ``encounter_max_crowd_vessels`` vessels in their 3x3 cells (a mooring or
   harbour missing from the configuration: dozens of boats side by side) take no part: this
   bounds the pairs per cell, so the work stays linear in the vessels even where the fleet
   is dense, and a transfer (two or three hulls) is far below the cap.
3. ``pairs_to_events``: runs of consecutive close bins of a pair (``base.runs`` on a run id)
   lasting at least ``encounter_min_duration_h`` become one event per vessel (two rows with
   the same start and end, ``partner_mmsi`` set, id_extra = partner). start/end are grid
   times; distance_m is the median distance, lat/lon the vessel's median position.

Sharding by space-time tiles with a halo: the driver resamples per vessel (any MMSI shard;
``resample`` needs each vessel's whole track), cuts the grid points into lat/lon boxes (tiles
in degrees: column numbers of different rows do not line up, so never cut on column numbers)
and calls ``close_pairs(grid_tile, ctx, owner=in_tile_proper)`` on each tile's points plus a
halo two cells deep on every side, in degrees 2 x ``cell_size_deg(settings, poleward edge of
the tile)`` (row height, column width). A pair is kept by the tile whose proper part holds
its owner point; the partner is within one cell of it, and the crowd count of the partner
needs one cell more, so both are complete. Time needs no halo: pairs are formed bin by bin.
The driver then concatenates the tiles' ``ClosePairs`` and calls ``pairs_to_events`` once,
so runs that cross a tile boundary in space or time come out whole, exactly as in one
process.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from pipeline.config import EventSettings
from pipeline.events.base import F64, I64, B, DetectContext, make_events, runs
from pipeline.events.port_visit import places
from pipeline.geo import EARTH_RADIUS_M, haversine_m
from pipeline.tracks import MS_TO_KN, US_PER_S, Track

EVENT = "encounter"
M_PER_DEG = EARTH_RADIUS_M * np.pi / 180
_MARGIN = 1.001  # cells a hair wider than the distance: float rounding never splits a pair


@dataclass
class Grid:
    """Slow, away-from-port track points on the common time grid (one per vessel and bin)."""

    mmsi: I64
    k: I64  # time bin: t = k * step
    lat: F64
    lon: F64

    def take(self, rows: I64 | B) -> Grid:
        return Grid(self.mmsi[rows], self.k[rows], self.lat[rows], self.lon[rows])


@dataclass
class ClosePairs:
    """One row per pair of vessels and time bin within the distance (mmsi_a < mmsi_b)."""

    a: I64
    b: I64
    k: I64
    lat_a: F64
    lon_a: F64
    lat_b: F64
    lon_b: F64
    dist: F64

    @classmethod
    def concat(cls, parts: list[ClosePairs]) -> ClosePairs:
        if not parts:
            e = np.zeros(0, np.int64)
            return cls(e, e, e, *(np.zeros(0) for _ in range(5)))
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def take(self, rows: I64 | B) -> ClosePairs:
        return ClosePairs(*(getattr(self, f.name)[rows] for f in fields(self)))


def step_us(es: EventSettings) -> int:
    return round(es.encounter_time_step_min * 60) * US_PER_S


def resample(track: Track, ctx: DetectContext) -> Grid:
    """Interpolated positions at the grid times, keeping only slow points away from ports."""
    es = ctx.events
    n = len(track)
    st = step_us(es)
    max_gap = es.encounter_max_interp_gap_h * 3600
    # interval i joins rows i and i+1 of one segment with a short enough gap
    ok = np.zeros(n, bool)
    if n > 1:
        ok[:-1] = ~track.new_segment[1:] & (track.dt_s[1:] <= max_gap)
    i = np.flatnonzero(ok)
    t0, t1 = track.t[i], track.t[i + 1]
    k0 = -(-t0 // st)  # ceil: grid times in [t0, t1)
    cnt = np.maximum(-(-t1 // st) - k0, 0)
    row = np.repeat(i, cnt)
    k = np.repeat(k0, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    f = (k * st - track.t[row]) / (track.t[row + 1] - track.t[row])
    lat = track.lat[row] + f * (track.lat[row + 1] - track.lat[row])
    dlon = (track.lon[row + 1] - track.lon[row] + 540.0) % 360.0 - 180.0
    lon = (track.lon[row] + f * dlon + 540.0) % 360.0 - 180.0
    # speed: SOG at the fixes (implied speed of the interval where SOG is missing)
    implied = np.full(n, np.nan)
    implied[:-1] = np.where(ok[:-1], track.step_m[1:] / np.maximum(track.dt_s[1:], 1.0), np.nan)
    implied *= MS_TO_KN
    s0 = np.where(np.isnan(track.sog[row]), implied[row], track.sog[row])
    s1 = np.where(np.isnan(track.sog[row + 1]), implied[row], track.sog[row + 1])
    sog = s0 + f * (s1 - s0)
    # a fix exactly on the grid whose outgoing interval is not usable
    on_grid = np.flatnonzero((track.t % st == 0) & ~ok)
    mmsi = np.r_[track.mmsi[row], track.mmsi[on_grid]]
    k = np.r_[k, track.t[on_grid] // st]
    lat, lon = np.r_[lat, track.lat[on_grid]], np.r_[lon, track.lon[on_grid]]
    sog = np.r_[sog, track.sog[on_grid]]
    keep = sog <= es.encounter_max_sog_kn  # NaN (unknown, no interval) is not slow
    g = Grid(mmsi[keep], k[keep], lat[keep], lon[keep])
    order = np.lexsort((g.k, g.mmsi))
    g = g.take(order)
    dup = np.zeros(len(g.k), bool)
    dup[1:] = (g.mmsi[1:] == g.mmsi[:-1]) & (g.k[1:] == g.k[:-1])
    g = g.take(~dup)
    if es.encounter_min_port_distance_km > 0 and len(g.mmsi):
        lim = es.encounter_min_port_distance_km * 1000
        d, _ = places(ctx.settings).nearest_m(g.lat, g.lon, lim)
        g = g.take(d >= lim)
    return g


def cell_size_deg(es: EventSettings, lat: F64 | float) -> tuple[float, F64]:
    """(row height, column width) of the cells at these latitudes, in degrees."""
    dlat = es.encounter_max_distance_m * _MARGIN / M_PER_DEG
    row = np.floor((np.asarray(lat, float) + 90.0) / dlat)
    return dlat, _width(dlat, row)


def _width(dlat: float, row: F64) -> F64:
    # wide enough at the poleward edge of the row and of both its neighbours, so that a pair
    # spanning two rows is never more than one column apart in either row's grid
    edge = np.maximum(np.abs((row - 1) * dlat - 90.0), np.abs((row + 2) * dlat - 90.0))
    return np.asarray(dlat / np.maximum(np.cos(np.radians(np.minimum(edge, 89.0))), 1e-3))


def cell_of(es: EventSettings, lat: F64, lon: F64) -> tuple[I64, I64]:
    """(row, column) of each point's cell: the bucketing key (columns differ per row)."""
    dlat = es.encounter_max_distance_m * _MARGIN / M_PER_DEG
    row = np.floor((lat + 90.0) / dlat)
    col = np.floor((lon + 180.0) / _width(dlat, row))
    return row.astype(np.int64), col.astype(np.int64)


def close_pairs(g: Grid, ctx: DetectContext, owner: B | None = None) -> ClosePairs:
    """Pairs of grid points of one time bin within the distance; only pairs whose owner point
    has ``owner`` True are returned (a tile's points proper; None = all)."""
    es = ctx.events
    n = len(g.mmsi)
    if n < 2:
        return ClosePairs.concat([])
    dlat = es.encounter_max_distance_m * _MARGIN / M_PER_DEG
    row, col = cell_of(es, g.lat, g.lon)
    col_up = np.floor((g.lon + 180.0) / _width(dlat, row.astype(float) + 1)).astype(np.int64)
    n_rows = int(np.ceil(180.0 / dlat)) + 3
    n_cols = int(np.ceil(360.0 / dlat)) + 4
    kmin = int(g.k.min())
    span = int(g.k.max()) - kmin + 1
    if span * n_rows * n_cols >= 2**62:
        raise ValueError("encounter grid too fine for 64-bit cell keys: raise "
                         "encounter_max_distance_m or shorten the window")

    def key(r: I64, c: I64) -> I64:
        return np.asarray(((g.k - kmin) * n_rows + r + 1) * n_cols + c + 1, dtype=np.int64)

    own = key(row, col)
    order = np.argsort(own, kind="stable")
    skeys = own[order]
    # crowds (a mooring, a harbour not in the configuration): vessels in the 3x3 cells around
    # each point; crowded points take no part, which bounds the pairs per cell
    col_dn = np.floor((g.lon + 180.0) / _width(dlat, row.astype(float) - 1)).astype(np.int64)
    crowd = np.zeros(n, np.int64)
    for r, c in ((row - 1, col_dn), (row, col), (row + 1, col_up)):
        lo = np.searchsorted(skeys, key(r, c - 1), "left")
        crowd += np.searchsorted(skeys, key(r, c + 1), "right") - lo
    calm = crowd <= es.encounter_max_crowd_vessels
    skeys = np.where(calm[order], skeys, -1)  # crowded points are never found ...
    resort = np.argsort(skeys, kind="stable")
    order, skeys = order[resort], skeys[resort]
    src = np.flatnonzero(calm & (owner if owner is not None else True))  # ... nor look
    qs = [(row, col, True), (row, col + 1, False), (row + 1, col_up - 1, False),
          (row + 1, col_up, False), (row + 1, col_up + 1, False)]
    ia: list[I64] = []
    ib: list[I64] = []
    for r, c, same in qs:  # five neighbour keys, each a vectorised lookup
        q = key(r, c)[src]
        lo = np.searchsorted(skeys, q, "left")
        cnt = np.searchsorted(skeys, q, "right") - lo
        a = np.repeat(src, cnt)
        pos = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        b = order[pos]
        sel = a < b if same else np.ones(len(a), bool)
        ia.append(a[sel])
        ib.append(b[sel])
    a, b = np.concatenate(ia), np.concatenate(ib)
    other = g.mmsi[a] != g.mmsi[b]
    a, b = a[other], b[other]
    d = haversine_m(g.lat[a], g.lon[a], g.lat[b], g.lon[b])
    close = d <= es.encounter_max_distance_m
    a, b, d = a[close], b[close], d[close]
    swap = g.mmsi[a] > g.mmsi[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    return ClosePairs(g.mmsi[a], g.mmsi[b], g.k[a], g.lat[a], g.lon[a], g.lat[b], g.lon[b], d)


def _group_median(group: I64, values: F64, n_groups: int) -> F64:
    """Median of ``values`` per group id 0..n_groups-1 (every group non-empty)."""
    order = np.lexsort((values, group))
    v = values[order]
    cnt = np.bincount(group, minlength=n_groups)
    start = np.cumsum(cnt) - cnt
    lo, hi = start + (cnt - 1) // 2, start + cnt // 2
    return np.asarray((v[lo] + v[hi]) / 2, dtype=np.float64)


def pairs_to_events(p: ClosePairs, track: Track, ctx: DetectContext) -> pa.Table:
    """Runs of consecutive close bins of a pair, at least the minimum duration, as events."""
    es = ctx.events
    st = step_us(es)
    order = np.lexsort((p.k, p.b, p.a))
    p = p.take(order)
    n = len(p.a)
    brk = np.ones(n, bool)
    if n > 1:
        brk[1:] = (p.a[1:] != p.a[:-1]) | (p.b[1:] != p.b[:-1]) | (p.k[1:] != p.k[:-1] + 1)
    run_id = np.cumsum(brk) - 1
    first, last = runs(run_id, np.ones(n, bool))
    long = (p.k[last] - p.k[first]) * st >= es.encounter_min_duration_h * 3600 * US_PER_S
    first, last = first[long], last[long]
    m = len(first)
    if m == 0:
        return make_events(EVENT, np.zeros(0, np.int64), np.zeros(0, np.int64),
                           np.zeros(0, np.int64))
    lens = last - first + 1
    rows = np.repeat(first, lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens,
                                                                      lens))
    ev = np.repeat(np.arange(m), lens)
    mid_lat, mid_lon = (p.lat_a[rows] + p.lat_b[rows]) / 2, (p.lon_a[rows] + p.lon_b[rows]) / 2
    night = ctx.night(p.k[rows] * st, mid_lat, mid_lon) & (rows != np.repeat(last, lens))
    night_h = np.bincount(ev, weights=night * (st / US_PER_S / 3600), minlength=m)
    dist = _group_median(ev, p.dist[rows], m)
    lat_a, lon_a = _group_median(ev, p.lat_a[rows], m), _group_median(ev, p.lon_a[rows], m)
    lat_b, lon_b = _group_median(ev, p.lat_b[rows], m), _group_median(ev, p.lon_b[rows], m)
    mmsi = np.r_[p.a[first], p.b[first]]
    partner = np.r_[p.b[first], p.a[first]]
    start, end = np.tile(p.k[first] * st, 2), np.tile(p.k[last] * st, 2)
    lat, lon = np.r_[lat_a, lat_b], np.r_[lon_a, lon_b]
    _, dep = ctx.nearest_zone("departure", lat, lon)
    return make_events(EVENT, mmsi, start, end, {
        "lat": lat, "lon": lon, "partner_mmsi": partner, "night_h": np.tile(night_h, 2),
        "positions": _fixes_between(track, mmsi, start, end),
        "distance_to_shore_m": ctx.distance_to_shore_m(lat, lon),
        "distance_to_departure_m": np.where(np.isfinite(dep), dep, np.nan),
        "distance_m": np.tile(dist, 2),
    }, id_extra=partner)


def _fixes_between(track: Track, mmsi: I64, start: I64, end: I64) -> I64:
    """AIS positions of each vessel within [start, end] (one sorted-key lookup per bound)."""
    if len(track) == 0:
        return np.zeros(len(mmsi), np.int64)
    vessels = track.mmsi[track.vessel_starts]
    t0, span = int(track.t.min()), int(track.t.max() - track.t.min()) + 1
    vi = np.searchsorted(vessels, track.mmsi)
    keys = vi * span + (track.t - t0)
    ev = np.searchsorted(vessels, mmsi)
    lo = np.clip(start - t0, 0, span - 1)
    hi = np.clip(end - t0, -1, span - 1)
    n = (np.searchsorted(keys, ev * span + hi, "right")
         - np.searchsorted(keys, ev * span + lo, "left"))
    return np.asarray(np.maximum(n, 0), dtype=np.int64)


def detect_encounter(track: Track, ctx: DetectContext) -> pa.Table:
    """Encounters between every pair of vessels of the track (one process; see the module
    docstring for the tiled version the driver may run)."""
    return pairs_to_events(close_pairs(resample(track, ctx), ctx), track, ctx)


def longitude_tiles(g: Grid, es: EventSettings, n_tiles: int) -> list[tuple[B, B]]:
    """Split grid points into ``n_tiles`` longitude strips of similar size: (members with a
    halo two cells wide, members proper) per strip. The halo width is taken at the most
    poleward point, where columns are widest, so it is enough everywhere."""
    if n_tiles <= 1 or len(g.lon) == 0:
        everything = np.ones(len(g.lon), dtype=bool)
        return [(everything, everything)]
    edges = np.quantile(g.lon, np.linspace(0.0, 1.0, n_tiles + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    _, width = cell_size_deg(es, float(np.max(np.abs(g.lat))) + 0.1)
    halo = 2.0 * float(np.max(width))
    out = []
    for lo, hi in itertools.pairwise(edges):
        proper = (g.lon >= lo) & (g.lon < hi)
        member = (g.lon >= lo - halo) & (g.lon < hi + halo)
        out.append((member, proper))
    return out


def detect_encounter_tiled(track: Track, ctx: DetectContext, n_tiles: int) -> pa.Table:
    """The same encounters as ``detect_encounter``, with the pair search run tile by tile
    (longitude strips with a halo): the unit of work a worker takes in a fanned-out run."""
    g = resample(track, ctx)
    parts = []
    for member, proper in longitude_tiles(g, ctx.events, n_tiles):
        parts.append(close_pairs(g.take(member), ctx, owner=proper[member]))
    return pairs_to_events(ClosePairs.concat(parts), track, ctx)
