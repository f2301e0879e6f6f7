"""What every detector shares: runs of a condition per vessel, deterministic ids, and the
conversion of detected intervals to rows of the ``events`` table.

The day rule: an event belongs to the UTC day of its ``end_time``. The detectors see the
partition day plus look-back days; ``finalise`` keeps the events that end on the day and
marks those still running at the end of the day's data as ``open``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipeline.config import EventSettings, Settings, Zone
from pipeline.geo import EARTH_RADIUS_M, build_distance_index, distance_to_geometry_m
from pipeline.night import is_night
from pipeline.schemas import EVENTS
from pipeline.tracks import F64, I64, US_PER_S, B, Track


def runs(group: I64, flag: B) -> tuple[I64, I64]:
    """Maximal runs of True in ``flag`` that stay inside one ``group`` (rows sorted by group):
    returns (first row, last row) of every run, inclusive."""
    n = len(flag)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    f = flag.astype(bool)
    brk = np.ones(n, dtype=bool)
    brk[1:] = group[1:] != group[:-1]
    starts = f & (brk | ~np.r_[False, f[:-1]])
    ends = f & (np.r_[brk[1:], True] | ~np.r_[f[1:], False])
    return np.flatnonzero(starts), np.flatnonzero(ends)


def event_ids(event_type: str, mmsi: I64, start_us: I64, extra: npt.ArrayLike | None = None
              ) -> list[str]:
    """Deterministic ids from the content: hash of type, vessel, start time (and partner or
    zone). One row per event, so a Python loop over events (not positions) is fine."""
    ex = [""] * len(mmsi) if extra is None else [str(x) for x in np.asarray(extra).tolist()]
    return [
        hashlib.sha256(f"{event_type}|{m}|{s}|{e}".encode()).hexdigest()[:20]
        for m, s, e in zip(mmsi.tolist(), start_us.tolist(), ex, strict=True)
    ]


def make_events(
    event_type: str,
    mmsi: I64,
    start_us: I64,
    end_us: I64,
    columns: Mapping[str, Any] | None = None,
    id_extra: npt.ArrayLike | None = None,
) -> pa.Table:
    """Rows of the events table; ``columns`` holds any other EVENTS columns as arrays."""
    n = len(mmsi)
    cols: dict[str, Any] = {
        "event_id": event_ids(event_type, mmsi, start_us, id_extra),
        "event_type": [event_type] * n,
        "mmsi": mmsi,
        "start_time": pa.array(start_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "end_time": pa.array(end_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "duration_h": (end_us - start_us) / (3600 * US_PER_S),
        "open": np.zeros(n, dtype=bool),
    }
    for name, values in (columns or {}).items():
        if name not in EVENTS.names:
            raise KeyError(f"{name!r} is not a column of the events table")
        cols[name] = values
    arrays = []
    for f in EVENTS:
        if f.name in cols:
            v = cols[f.name]
            arrays.append(v if isinstance(v, pa.Array | pa.ChunkedArray)
                          else pa.array(v, type=f.type, from_pandas=True))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=EVENTS)


def finalise(events: pa.Table, track: Track) -> pa.Table:
    """Keep the events of the partition day and mark the open ones.

    An event is open when it ends at its vessel's last position of the day's data (the
    vessel may still be in that state), or when its detector marked it open (a dark gap
    still silent at the end of the data); it is kept on the day with open=True.
    """
    if events.num_rows == 0:
        return events
    end = events.column("end_time").cast(pa.int64()).to_numpy()
    keep = (end >= track.day_start_us) & (end < track.day_end_us)
    events = events.filter(pa.array(keep))
    if events.num_rows == 0 or len(track) == 0:
        return events
    last_idx = np.r_[track.vessel_starts[1:] - 1, len(track) - 1]
    last_t = dict(zip(track.mmsi[last_idx].tolist(), track.t[last_idx].tolist(), strict=True))
    mm = events.column("mmsi").to_numpy()
    end = events.column("end_time").cast(pa.int64()).to_numpy()
    is_open = np.array([last_t.get(m) == e for m, e in zip(mm.tolist(), end.tolist(),
                                                             strict=True)], dtype=bool)
    is_open &= events.column("event_type").to_numpy(zero_copy_only=False) != "dark_gap"
    # a detector may know better (a dark gap still silent at the end of the data)
    is_open |= events.column("open").to_numpy(zero_copy_only=False).astype(bool)
    i = EVENTS.names.index("open")
    return events.set_column(i, EVENTS.field(i), pa.array(is_open))


# ---------------------------------------------------------------- context shared by detectors


@dataclass
class DetectContext:
    """Everything a detector may read besides the track: settings, the day, identities and
    declared port calls of the look-back window, and cached reference geometry."""

    settings: Settings
    day: date
    static: pa.Table  # vessel_static rows of the look-back window (lake schema)
    port_calls: pa.Table  # port_calls rows of the look-back window (lake schema)
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> EventSettings:
        return self.settings.events

    def zones(self, role: str) -> list[Zone]:
        """Configured zones of one role (departure, holding_area, destination, landing)
        over all active regions."""
        return [z for r in self.settings.regions.values() for z in r.zones_by_role(role)]

    def nearest_zone(self, role: str, lat: F64, lon: F64) -> tuple[npt.NDArray[np.object_], F64]:
        """(zone id, distance in metres to its area; 0 inside; None/inf when no zone) of the
        nearest zone of a role. Each point is measured only against the areas that may be
        nearer than the best found so far (a lower bound from each area's bounding box);
        ties go to the zone listed first, as a plain loop over the zones would decide."""
        zones = self.zones(role)
        n = len(lat)
        ids = np.full(n, None, dtype=object)
        best = np.full(n, np.inf)
        best_zone = np.full(n, len(zones), dtype=np.int64)
        if not zones or not n:
            return ids, best
        lb = np.stack([box_lower_bound_m(z.area.bounds, lat, lon) for z in zones])
        order = np.argsort(lb, axis=0, kind="stable")  # per point: areas by lower bound
        cols = np.arange(n)
        for rank in range(len(zones)):  # stops as soon as no area can be nearer
            zi = order[rank]
            need = ~(lb[zi, cols] > best)  # NaN (no position) is measured
            if not need.any():
                break
            for z in np.unique(zi[need]).tolist():
                sel = np.flatnonzero(need & (zi == z))
                key = f"zone-index:{zones[z].id}"
                if key not in self._cache:
                    self._cache[key] = build_distance_index(zones[z].area)
                d = distance_to_geometry_m(self._cache[key], lat[sel], lon[sel])
                better = (d < best[sel]) | ((d == best[sel]) & (z < best_zone[sel]))
                best[sel[better]] = d[better]
                best_zone[sel[better]] = z
        found = best_zone < len(zones)
        ids[found] = np.array([zones[k].id for k in best_zone[found].tolist()], dtype=object)
        return ids, best

    def distance_to_shore_m(self, lat: F64, lon: F64) -> F64:
        return distance_to_geometry_m(self.settings.land_index(), lat, lon)

    def night(self, t_us: I64, lat: F64, lon: F64) -> B:
        return is_night(t_us, lat, lon, self.events.night_sun_elevation_deg)


def box_lower_bound_m(bounds: tuple[float, float, float, float], lat: F64, lon: F64) -> F64:
    """A lower bound (m) of the great-circle distance from each point to any point of a
    lon/lat box: R |Δφ| to its latitudes, and from sin²(d/2R) >= cos φ1 cos φ2 sin²(Δλ/2)
    with Δλ the longitude gap and φ2 the box latitude of smallest cosine; with slack for
    rounding."""
    minx, miny, maxx, maxy = bounds
    dphi = np.radians(np.maximum(np.maximum(miny - lat, lat - maxy), 0.0))
    gap = np.abs((lon - (minx + maxx) / 2 + 180.0) % 360.0 - 180.0) - (maxx - minx) / 2
    dlam = np.radians(np.clip(gap, 0.0, 180.0))
    cos_box = max(min(np.cos(np.radians(miny)), np.cos(np.radians(maxy))), 0.0)
    s = np.sqrt(np.maximum(np.cos(np.radians(lat)), 0.0) * cos_box) * np.sin(dlam / 2)
    lb = np.maximum(dphi, 2 * np.arcsin(np.minimum(s, 1.0))) * EARTH_RADIUS_M
    return np.asarray(np.maximum(lb * (1 - 1e-6) - 1.0, 0.0), dtype=np.float64)


def interval_sum(values: F64, first: I64, last: I64) -> F64:
    """Sum of ``values[first..last]`` (inclusive) for many intervals at once.

    Each interval is summed on its own elements only (``np.add.reduceat`` over interleaved
    bounds), never as a difference of running totals: the result must not depend on which
    other vessels share the array, or N shards would not give the single-process bytes.
    """
    if len(first) == 0:
        return np.zeros(0)
    v = np.r_[np.nan_to_num(values, nan=0.0), 0.0]
    bounds = np.empty(2 * len(first), dtype=np.int64)
    bounds[0::2], bounds[1::2] = first, last + 1
    sums = np.add.reduceat(v, bounds)[0::2]
    return np.asarray(np.where(last >= first, sums, 0.0), dtype=np.float64)


def run_rows(first: I64, last: I64) -> tuple[I64, I64]:
    """Rows ``first..last`` (inclusive) of every run, concatenated, and the run of each row
    (a vectorised ``np.arange`` over many intervals)."""
    lens = np.maximum(last - first + 1, 0)
    rows = np.repeat(first, lens) + (np.arange(int(lens.sum()))
                                     - np.repeat(np.cumsum(lens) - lens, lens))
    return rows.astype(np.int64), np.repeat(np.arange(len(first)), lens).astype(np.int64)


def sum_on_runs(values: F64, run: I64, n_runs: int) -> F64:
    """Per-run sums of values gathered on ``run_rows`` (in row order, so each run is summed
    on its own rows exactly as ``interval_sum`` would)."""
    return np.bincount(run, weights=values, minlength=n_runs).astype(np.float64)


def run_night_hours(track: Track, ctx: DetectContext, first: I64, last: I64) -> F64:
    """Hours at night in each run of rows ``first..last``: the time from a position to the
    next counts as night when the sun is down at the position. The sun is computed only for
    the rows inside the runs, a small share of the track."""
    if not len(first):
        return np.zeros(0)
    rows, run = run_rows(first, last - 1)  # the last position's time to the next is outside
    night = ctx.night(track.t[rows], track.lat[rows], track.lon[rows])
    hours = np.where(night, np.nan_to_num(track.dt_s[rows + 1], nan=0.0), 0.0) / 3600
    return sum_on_runs(hours, run, len(first))


def run_events(event_type: str, track: Track, ctx: DetectContext, first: I64, last: I64,
               columns: Mapping[str, Any], id_extra: npt.ArrayLike | None = None) -> pa.Table:
    """Events made of runs of rows ``first..last`` of the track: start and end at the first
    and last position, the middle position, the night hours, the number of positions and the
    distances to shore and to the nearest departure point; ``columns`` adds or overrides."""
    lat, lon = median_position(track, first, last)
    _, dep = ctx.nearest_zone("departure", lat, lon)
    cols: dict[str, Any] = {
        "lat": lat, "lon": lon,
        "night_h": run_night_hours(track, ctx, first, last),
        "positions": last - first + 1,
        "distance_to_shore_m": ctx.distance_to_shore_m(lat, lon),
        "distance_to_departure_m": np.where(np.isfinite(dep), dep, np.nan),
        **columns,
    }
    return make_events(event_type, track.mmsi[first], track.t[first], track.t[last], cols,
                       id_extra)


def median_position(track: Track, first: I64, last: I64) -> tuple[F64, F64]:
    """Representative position of each interval: the position at its middle row."""
    mid = (first + last) // 2
    return track.lat[mid], track.lon[mid]
