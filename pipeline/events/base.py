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
from pipeline.geo import build_distance_index, distance_to_geometry_m
from pipeline.night import is_night
from pipeline.schemas import EVENTS
from pipeline.tracks import US_PER_S, Track

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


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
        """(zone id, distance in metres to its area; 0 inside) of the nearest zone of a role."""
        zones = self.zones(role)
        ids = np.full(len(lat), None, dtype=object)
        best = np.full(len(lat), np.inf)
        for z in zones:  # a few dozen zones; each query is vectorised over the points
            key = f"zone-index:{z.id}"
            if key not in self._cache:
                self._cache[key] = build_distance_index(z.area)
            d = distance_to_geometry_m(self._cache[key], lat, lon)
            closer = d < best
            best[closer], ids[closer] = d[closer], z.id
        return ids, best

    def distance_to_shore_m(self, lat: F64, lon: F64) -> F64:
        return distance_to_geometry_m(self.settings.land_index(), lat, lon)

    def night(self, t_us: I64, lat: F64, lon: F64) -> B:
        return is_night(t_us, lat, lon, self.events.night_sun_elevation_deg)


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


def interval_night_hours(track: Track, night: B, first: I64, last: I64) -> F64:
    """Hours at night between rows ``first`` and ``last`` of each interval: the time from
    each position to the next counts as night when the position is at night."""
    dt_next = np.r_[np.nan_to_num(track.dt_s[1:], nan=0.0), 0.0] / 3600
    return interval_sum(np.where(night, dt_next, 0.0), first, last - 1) if len(first) else \
        np.zeros(0)


def median_position(track: Track, first: I64, last: I64) -> tuple[F64, F64]:
    """Representative position of each interval: the position at its middle row."""
    mid = (first + last) // 2
    return track.lat[mid], track.lon[mid]
