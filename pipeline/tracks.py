"""Vessel tracks: positions sorted per vessel, glitches flagged, segments split at long gaps.

Every detector works on one ``Track`` object: flat numpy arrays sorted by (mmsi, time) with
per-row deltas to the previous kept position of the same vessel. Position glitches (a jump
that implies more than ``events.max_implied_speed_kn`` to and from its neighbours) are kept
in ``glitch`` for the features but are not part of the track the detectors see. Positions
whose time is only a date (``time_source`` date_only: raw NMEA stamped ``--date`` 00:00 UTC)
are not part of any track either: a vessel's many reports at one invented instant would be
impossible speed jumps, position conflicts and day-long silences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import EventSettings
from pipeline.geo import haversine_m
from pipeline.lake import Lake
from pipeline.schemas import real_time

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
MS_TO_KN = 3600 / 1852

TRACK_COLUMNS = ["mmsi", "timestamp", "lat", "lon", "sog_kn", "cog_deg", "heading_deg",
                 "nav_status", "transceiver_class"]
# what is read from the lake: the columns above and how each time was obtained (date-only
# rows are dropped by track_from_table)
READ_COLUMNS = [*TRACK_COLUMNS, "time_source"]


@dataclass
class Track:
    """Positions of many vessels, sorted by (mmsi, t); glitches removed."""

    mmsi: I64
    t: I64  # microseconds since the epoch, UTC
    lat: F64
    lon: F64
    sog: F64  # knots, NaN when not available
    cog: F64  # degrees, NaN when not available
    class_b: B  # Class B transponder (True) or A / unknown (False)
    day_start_us: int  # start of the partition day D (UTC)
    day_end_us: int  # end of day D (exclusive)
    glitches: dict[int, int] = field(default_factory=dict)  # mmsi -> glitches removed
    # derived, filled by _derive()
    new_vessel: B = field(default_factory=lambda: np.zeros(0, bool))  # first row of a vessel
    new_segment: B = field(default_factory=lambda: np.zeros(0, bool))  # first row of a segment
    dt_s: F64 = field(default_factory=lambda: np.zeros(0))  # seconds since previous (NaN at new vessel)
    step_m: F64 = field(default_factory=lambda: np.zeros(0))  # metres from previous
    segment: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # global segment number

    def __len__(self) -> int:
        return len(self.mmsi)

    @property
    def vessel_starts(self) -> I64:
        return np.flatnonzero(self.new_vessel)

    def on_day(self) -> B:
        """Rows inside the partition day (the rest is look-back)."""
        return (self.t >= self.day_start_us) & (self.t < self.day_end_us)

    def take(self, rows: npt.NDArray[np.int64] | B) -> Track:
        """A sub-track of whole vessels (rows must keep vessels whole and sorted)."""
        out = Track(self.mmsi[rows], self.t[rows], self.lat[rows], self.lon[rows],
                    self.sog[rows], self.cog[rows], self.class_b[rows], self.day_start_us,
                    self.day_end_us, self.glitches)
        return out.derive(None)

    def derive(self, settings: EventSettings | None, gap_h: float | None = None,
               steps_m: F64 | None = None) -> Track:
        """Fill the per-row deltas and segment numbers (``steps_m``: the n - 1 distances
        between consecutive rows, when the caller has them already)."""
        n = len(self)
        self.new_vessel = np.ones(n, dtype=bool)
        if n > 1:
            self.new_vessel[1:] = self.mmsi[1:] != self.mmsi[:-1]
        self.dt_s = np.full(n, np.nan)
        self.step_m = np.full(n, np.nan)
        if n > 1:
            self.dt_s[1:] = (self.t[1:] - self.t[:-1]) / US_PER_S
            self.step_m[1:] = (steps_m if steps_m is not None
                               else step_lengths_m(self.lat, self.lon))
        self.dt_s[self.new_vessel] = np.nan
        self.step_m[self.new_vessel] = np.nan
        gap = (gap_h if gap_h is not None else settings.segment_gap_h if settings else 6.0) * 3600
        self.new_segment = self.new_vessel | (np.nan_to_num(self.dt_s, nan=0.0) > gap)
        self.segment = np.cumsum(self.new_segment) - 1
        return self


def step_lengths_m(lat: F64, lon: F64) -> F64:
    """Metres from each row to the next (length n - 1)."""
    return np.asarray(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]), dtype=np.float64)


def glitch_mask(mmsi: I64, t: I64, lat: F64, lon: F64, max_kn: float,
                steps_m: F64 | None = None) -> B:
    """Isolated jumps: the implied speed both from the previous and to the next position of
    the same vessel exceeds ``max_kn`` (a single bad fix, not real movement)."""
    n = len(mmsi)
    if n < 3:
        return np.zeros(n, dtype=bool)
    steps = steps_m if steps_m is not None else step_lengths_m(lat, lon)
    dt = np.maximum((t[1:] - t[:-1]) / US_PER_S, 1.0)
    kn = steps / dt * MS_TO_KN
    same = mmsi[1:] == mmsi[:-1]
    fast = (kn > max_kn) & same  # fast[i]: jump between row i and i+1
    out = np.zeros(n, dtype=bool)
    out[1:-1] = fast[:-1] & fast[1:]
    return out


def sort_order(mmsi: I64, t: I64) -> I64:
    """Row order by (mmsi, t). Lake partitions are sorted by (mmsi, time) and read day after
    day, so a stable radix sort on the MMSI alone usually gives time order within each vessel
    too (checked); otherwise a full two-key sort."""
    order = np.argsort(mmsi, kind="stable")
    m, tt = mmsi[order], t[order]
    if len(m) < 2 or bool(np.all((m[1:] != m[:-1]) | (tt[1:] >= tt[:-1]))):
        return order
    return np.lexsort((t, mmsi))


def load_track(lake: Lake, day: date, settings: EventSettings,
               mmsi_filter: pa.Array | None = None) -> Track:
    """Day ``day`` plus ``lookback_days`` before it, as one sorted, glitch-free track."""
    start = day - timedelta(days=settings.lookback_days)
    table = lake.read("positions", start, day, columns=READ_COLUMNS)
    if mmsi_filter is not None:
        table = table.filter(pc.is_in(table.column("mmsi"), mmsi_filter))
    return track_from_table(table, day, settings)


def track_from_table(table: pa.Table, day: date, settings: EventSettings) -> Track:
    """Build a track from position rows (lake columns); rows with only a date are left out."""
    timed = real_time(table)
    if timed is not None:
        table = table.filter(timed)
    mmsi = table.column("mmsi").to_numpy()
    t = pc.cast(table.column("timestamp"), pa.int64()).to_numpy()
    order = sort_order(mmsi, t)
    mmsi, t = mmsi[order], t[order]

    def num(name: str) -> F64:
        col = table.column(name)
        arr = pc.fill_null(pc.cast(col, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        return np.asarray(arr, dtype=np.float64)[order]

    lat, lon = num("lat"), num("lon")
    sog, cog = num("sog_kn"), num("cog_deg")
    cls = np.asarray(pc.fill_null(pc.equal(table.column("transceiver_class"), "B"), False)
                     .to_numpy(zero_copy_only=False), dtype=bool)[order]
    steps = step_lengths_m(lat, lon) if len(lat) > 1 else np.zeros(0)
    bad = glitch_mask(mmsi, t, lat, lon, settings.max_implied_speed_kn, steps)
    glitches: dict[int, int] = {}
    if bad.any():
        ids, counts = np.unique(mmsi[bad], return_counts=True)
        glitches = dict(zip(ids.tolist(), counts.tolist(), strict=True))
        keep = ~bad
        kept = np.flatnonzero(keep)
        mmsi, t, lat, lon, sog, cog, cls = (a[keep] for a in (mmsi, t, lat, lon, sog, cog, cls))
        # step i (row i -> i+1) survives when both rows were kept next to each other
        steps = np.r_[steps, np.nan][kept][:-1]
        moved = np.flatnonzero(np.diff(kept) != 1)
        steps[moved] = haversine_m(lat[moved], lon[moved], lat[moved + 1], lon[moved + 1])
    d0 = int((np.datetime64(day, "D") - np.datetime64(0, "D")).astype(np.int64)) * US_PER_DAY
    track = Track(mmsi, t, lat, lon, sog, cog, cls, d0, d0 + US_PER_DAY, glitches)
    return track.derive(settings, steps_m=steps)
