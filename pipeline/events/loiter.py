"""``loiter``: a vessel slower than ``loiter_max_sog_kn`` for at least ``loiter_min_duration_h``
(Global Fishing Watch: < 2 kn for >= 1 h) inside one track segment.

This is how a mother ship waiting off a departure beach or in an offshore holding area shows up
in AIS, so every loiter carries its distance to shore and to the nearest departure point, and
names the departure point or holding area it happened at (``zone_id``) when one is near.

Speed of a position: the reported SOG; where the SOG is missing (NaN), the lower of the speeds
implied by the steps into and out of it (so the fixes where a vessel arrives at and leaves
its waiting spot belong to the stop, as they do for a diameter-based stop detector). Where
both steps around a position imply less than its SOG, the higher of the two implied speeds is
used instead: real AIS has lone SOG spikes (3-6 kn reported between fixes 30 m apart) that
would otherwise cut a stop in pieces. A run of
slow positions also breaks where the vessel covered more ground between two slow reports than
the threshold speed allows plus ``JITTER_M`` of position noise: it moved in between.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipeline.events.base import (
    DetectContext,
    interval_sum,
    make_events,
    median_position,
    run_events,
    runs,
)
from pipeline.tracks import F64, MS_TO_KN, US_PER_S, Track

JITTER_M = 500.0  # position noise tolerated on top of the ground a slow vessel covers in a step


def speed_kn(track: Track) -> F64:
    """Speed of every position: reported SOG (else the slower of its two implied speeds),
    unless the fixes on both sides show the vessel slower than that: a lone SOG spike."""
    with np.errstate(invalid="ignore", divide="ignore"):
        implied_in = track.step_m / np.maximum(track.dt_s, 1.0) * MS_TO_KN
    implied_in[track.new_segment] = np.nan  # no step into the first position of a segment
    implied_out = np.r_[implied_in[1:], np.nan]  # NaN where the next row starts a segment
    reported = np.where(np.isfinite(track.sog), track.sog, np.fmin(implied_in, implied_out))
    return np.fmin(reported, np.fmax(implied_in, implied_out))


def moved_between(track: Track, max_kn: float) -> npt.NDArray[np.bool_]:
    """Steps longer than ``max_kn`` can cover in their time (plus noise): not a slow stretch,
    whatever the SOG at both ends says (e.g. a silence of a few hours spent under way)."""
    allowed = max_kn / MS_TO_KN * np.nan_to_num(track.dt_s, nan=0.0) + JITTER_M
    return ~track.new_segment & (np.nan_to_num(track.step_m, nan=0.0) > allowed)


def role_distance_m(ctx: DetectContext, role: str, lat: F64, lon: F64) -> F64:
    """Distance to the nearest zone of a role (0 inside; NaN when none is configured)."""
    _, d = ctx.nearest_zone(role, lat, lon)
    return np.where(np.isfinite(d), d, np.nan)


def named_zone(ctx: DetectContext, lat: F64, lon: F64, max_km: float
               ) -> tuple[npt.NDArray[np.object_], F64]:
    """(zone id or None, distance to the nearest departure point): the nearest departure
    point or holding area within ``max_km`` (a departure point wins a tie, e.g. both 0 m
    because the position is inside both). Ids are looked up only for the positions near one."""
    dep_d = role_distance_m(ctx, "departure", lat, lon)
    hold_d = role_distance_m(ctx, "holding_area", lat, lon)
    zid = np.full(len(lat), None, dtype=object)
    near = np.flatnonzero(np.fmin(dep_d, hold_d) <= max_km * 1000)
    if len(near):
        dep_id, dd = ctx.nearest_zone("departure", lat[near], lon[near])
        hold_id, hd = ctx.nearest_zone("holding_area", lat[near], lon[near])
        use_hold = hd < dd
        zd = np.where(use_hold, hd, dd)
        named = np.where(use_hold, hold_id, dep_id).astype(object)
        named[zd > max_km * 1000] = None
        zid[near] = named
    return zid, dep_d


def detect_loiter(track: Track, ctx: DetectContext) -> pa.Table:
    """Every loiter of the track (whole, even when it crosses midnight)."""
    s = ctx.events
    if len(track) == 0:
        return make_events("loiter", np.zeros(0, np.int64), np.zeros(0, np.int64),
                           np.zeros(0, np.int64))
    speed = speed_kn(track)
    slow = speed < s.loiter_max_sog_kn  # NaN (no SOG, single position) is not slow
    group = np.cumsum(track.new_segment | moved_between(track, s.loiter_max_sog_kn),
                      dtype=np.int64)
    first, last = runs(group, slow)
    min_us = round(s.loiter_min_duration_h * 3600 * US_PER_S)
    keep = track.t[last] - track.t[first] >= min_us
    first, last = first[keep], last[keep]
    lat, lon = median_position(track, first, last)
    zone_id, _ = named_zone(ctx, lat, lon, s.loiter_zone_max_distance_km)
    mean_kn = interval_sum(speed, first, last) / (last - first + 1)
    return run_events("loiter", track, ctx, first, last, {
        "zone_id": zone_id,
        "detail": [f"mean speed {v:.1f} kn" for v in mean_kn.tolist()],
    })
