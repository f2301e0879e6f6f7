"""``dark_gap``: AIS silence longer than ``dark_gap_min_h`` between two consecutive positions
of one vessel (Global Fishing Watch reports gaps of 6 h and more), or from a vessel's last
position to the end of the partition day.

Closed gap (the vessel was heard again): ``start_time``/``lat``/``lon`` = the last position
before the silence (where the vessel vanished), ``end_time``/``end_lat``/``end_lon`` = the
first one after it (where it reappeared); ``distance_m`` and ``implied_speed_kn`` between
them; ``positions`` = 2 (the two fixes that frame the silence). A silence that crosses
midnight is one event, belonging to the day it ends.

Open gap (still silent at the end of day D, ``open`` = True): the mother ship that leaves a
departure point dark and reappears, if ever, under another MMSI is the signal that matters
most, and it must reach the analyst on the day it vanishes, not when (or if) its MMSI is
heard again. ``start_time``/``lat``/``lon`` as above, ``end_time`` = the end of the day's
data (``day_end_us - 1``), no reappearance point (``end_lat``/``end_lon``/``distance_m``/
``implied_speed_kn`` null), ``positions`` = 1, ``detail`` starting with "still silent". Its id
(type, MMSI, start) is the one the closed gap will have, so the alert layer sees one event
growing: it is emitted every day the vessel stays silent and once more, closed, on the day it
is heard again. Both only while the vanish point is inside the track (the day plus
``lookback_days``): a vessel silent for longer than that is no longer seen vanishing.

Why each attribute:

- ``bearing_deg``: course at the vanish point, the reported COG when the vessel was making
  way (COG of a stopped vessel is noise), else the bearing of its last movement.
- ``zone_id``: the departure point or offshore holding area (mother ships wait there) nearest
  the vanish point, when within ``dark_gap_near_departure_km``; ``distance_to_departure_m``
  is to the nearest departure point itself.
- ``detail``: whether it vanished near a departure point and whether its course pointed
  at a destination area (within ``dark_gap_toward_destination_deg`` of the initial bearing to
  the nearest point of a destination or landing area of the region the vessel vanished in,
  see ``heading.regional_destinations``, and with the course line passing within
  ``dark_gap_toward_max_miss_km`` of the area: far away, an angle alone is not a heading).
- ``night_h``: the silence sampled every 15 min along the great circle vanish -> reappear
  (at the vanish point for an open gap), each sample at night (sun at the sampled place and
  time) counting its share of the time.
- ``reception_ratio``: see ``reception_ratios``: received / expected positions of the vessel
  and its neighbours, so that reception holes are not taken for intent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipeline.config import EventSettings
from pipeline.events.base import DetectContext, make_events
from pipeline.events.heading import angle_diff_deg, regional_destinations, zone_bearing_distance
from pipeline.geo import destination_point, initial_bearing_deg
from pipeline.schemas import EVENTS
from pipeline.tracks import F64, I64, MS_TO_KN, US_PER_S, B, Track

NIGHT_STEP_S = 900.0  # night_h: the silence is sampled every 15 min
MIN_SOG_FOR_COG_KN = 1.0  # below this the reported COG is noise
MIN_MOVE_M = 100.0  # "last movement": a step at least this long (well above GPS noise)
# reception: interval each vessel reports at, per speed regime (slow = < SLOW_KN)
SLOW_KN = 2.0
TYPICAL_MAX_INTERVAL_S = 1800.0  # steps longer than this are holes, not the reporting interval
FALLBACK_INTERVAL_S = (60.0, 180.0)  # (moving, slow) when a vessel has no typical step
PIECE_S = 3600  # a long step is spread over the hours it spans
MIN_EXPECTED_DURING = 10.0  # neighbours must be expected this often during the gap to judge it
RECEPTION_GRID_CACHE_KEY = "dark_gap:reception_grid"


@dataclass
class Gaps:
    """The silences of a track: vanish row ``a`` and the end of each silence, given by
    arrays so that closed gaps (ended by a reappearance) and open ones (still silent at the
    end of the day's data: end position NaN) go through the same code."""

    a: I64  # row of the last position before the silence
    t_a: I64  # its time (the start of the silence)
    end_us: I64  # reappearance time, or the end of the day's data (open)
    end_lat: F64  # reappearance point, NaN when open
    end_lon: F64
    dist_m: F64  # vanish -> reappearance, NaN when open
    open: B

    @property
    def dur_s(self) -> F64:
        return np.asarray((self.end_us - self.t_a) / US_PER_S, dtype=np.float64)


def find_gaps(track: Track, ev: EventSettings) -> Gaps:
    """Closed gaps (a step longer than ``dark_gap_min_h``) and open ones (a vessel whose
    last position is more than ``dark_gap_min_h`` before the end of the partition day)."""
    min_s = ev.dark_gap_min_h * 3600
    dt = np.nan_to_num(track.dt_s, nan=0.0)
    b = np.flatnonzero(~track.new_vessel & (dt > min_s))
    last = np.r_[track.vessel_starts[1:] - 1, len(track) - 1].astype(np.int64)
    last = last[(track.day_end_us - track.t[last]) / US_PER_S > min_s]
    nan = np.full(len(last), np.nan)
    a = np.r_[b - 1, last].astype(np.int64)
    return Gaps(
        a=a,
        t_a=track.t[a],
        end_us=np.r_[track.t[b], np.full(len(last), track.day_end_us - 1)].astype(np.int64),
        end_lat=np.r_[track.lat[b], nan], end_lon=np.r_[track.lon[b], nan],
        dist_m=np.r_[track.step_m[b], nan],
        open=np.r_[np.zeros(len(b), bool), np.ones(len(last), bool)],
    )


def detect_dark_gap(track: Track, ctx: DetectContext) -> pa.Table:
    """Every silence longer than ``dark_gap_min_h`` that has ended inside the track, and
    every one still running at the end of the partition day (open)."""
    ev = ctx.events
    if len(track) == 0:
        return EVENTS.empty_table()
    g = find_gaps(track, ev)
    if not len(g.a):
        return EVENTS.empty_table()
    a = g.a
    lat, lon = track.lat[a], track.lon[a]
    dur_s = g.dur_s
    speed = g.dist_m / dur_s * MS_TO_KN
    course = vanish_course(track, a)

    dep_id, dep_m = ctx.nearest_zone("departure", lat, lon)
    hold_id, hold_m = ctx.nearest_zone("holding_area", lat, lon)
    use_hold = hold_m < dep_m
    near_id = np.where(use_hold, hold_id, dep_id)
    near_m = np.where(use_hold, hold_m, dep_m)
    is_near = near_m <= ev.dark_gap_near_departure_km * 1000.0
    zone_id = near_id.copy()
    zone_id[~is_near] = None

    dst_id, dst_err, dst_brg, dst_m = toward_destination(ctx, lat, lon, course)
    miss_m = np.nan_to_num(dst_m, nan=np.inf) * np.sin(np.radians(np.minimum(dst_err, 90.0)))
    toward = (dst_err <= ev.dark_gap_toward_destination_deg) & (
        (dst_err == 0) | (miss_m <= ev.dark_gap_toward_max_miss_km * 1000.0))

    own = reception_pieces(track, ev)
    grid = ctx._cache.get(RECEPTION_GRID_CACHE_KEY)
    if not isinstance(grid, ReceptionGrid):
        grid = build_reception_grid(track, ev, own)
    rec = reception_ratios(track, ev, a, g.end_us, grid, own)

    detail = []
    for k in range(len(a)):  # one string per event
        if g.open[k]:
            parts = [f"still silent {dur_s[k] / 3600:.1f} h at the end of the day"]
        else:
            parts = [f"silent {dur_s[k] / 3600:.1f} h, reappeared {g.dist_m[k] / 1000:.1f} km "
                     f"away ({speed[k]:.1f} kn)"]
        kind = "holding area" if use_hold[k] else "departure point"
        if is_near[k]:
            parts.append(f"vanished near {kind} {near_id[k]} ({near_m[k] / 1000:.1f} km)")
        else:
            parts.append("not near a departure point")
        if toward[k]:
            parts.append(f"heading {course[k]:.0f} deg toward destination {dst_id[k]} "
                         f"(bearing {dst_brg[k]:.0f} deg, {dst_m[k] / 1000:.0f} km)")
        elif np.isfinite(course[k]):
            parts.append(f"course {course[k]:.0f} deg not toward a destination area")
        else:
            parts.append("course unknown")
        parts.append(rec.describe(k))
        detail.append("; ".join(parts))

    return make_events(
        "dark_gap",
        track.mmsi[a],
        g.t_a,
        g.end_us,
        {
            "lat": lat, "lon": lon,
            "end_lat": g.end_lat, "end_lon": g.end_lon,
            "zone_id": zone_id,
            "night_h": gap_night_hours(ctx, track, g),
            "open": g.open,
            "positions": np.where(g.open, 1, 2).astype(np.int64),
            "distance_to_shore_m": ctx.distance_to_shore_m(lat, lon),
            "distance_to_departure_m": dep_m,
            "distance_m": g.dist_m,
            "implied_speed_kn": speed,
            "bearing_deg": course,
            "reception_ratio": rec.ratio,
            "detail": detail,
        },
    )


# ------------------------------------------------------------------------- geometry of a gap


def vanish_course(track: Track, rows: I64) -> F64:
    """Course at each row: COG when making way, else the bearing of the last step of the
    same vessel longer than ``MIN_MOVE_M`` (NaN when it never moved)."""
    n = len(track)
    idx = np.arange(n)
    moving = ~track.new_segment & (np.nan_to_num(track.step_m, nan=0.0) >= MIN_MOVE_M)
    last_move = np.maximum.accumulate(np.where(moving, idx, -1))
    vessel_first = np.maximum.accumulate(np.where(track.new_vessel, idx, 0))
    j = last_move[rows]
    ok = j > vessel_first[rows]
    jj = np.where(ok, j, 1)
    moved = np.where(ok, initial_bearing_deg(track.lat[jj - 1], track.lon[jj - 1],
                                             track.lat[jj], track.lon[jj]), np.nan)
    cog, sog = track.cog[rows], track.sog[rows]
    use_cog = np.isfinite(cog) & ~(sog < MIN_SOG_FOR_COG_KN)
    return np.where(use_cog, cog, moved)


def toward_destination(ctx: DetectContext, lat: F64, lon: F64, course: F64
                       ) -> tuple[npt.NDArray[np.object_], F64, F64, F64]:
    """For each point: the destination area whose bearing is closest to ``course``, with the
    angle off (deg), that bearing and the distance to the area (m); inf/None when none."""
    n = len(lat)
    ids = np.full(n, None, dtype=object)
    err = np.full(n, np.inf)
    brg = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    for z, sel in regional_destinations(ctx, lat, lon):  # dozens, vectorised over the gaps
        zb, zd = zone_bearing_distance(z, lat[sel], lon[sel])
        e = np.where(zd <= 0, 0.0, angle_diff_deg(course[sel], zb))
        better = e < err[sel]  # NaN (unknown course) never matches
        k = sel[better]
        ids[k], err[k], brg[k], dist[k] = z.id, e[better], zb[better], zd[better]
    return ids, err, brg, dist


def gap_night_hours(ctx: DetectContext, track: Track, g: Gaps) -> F64:
    """Hours of each silence at night, sampled every ``NIGHT_STEP_S`` along the great
    circle from the vanish to the reappearance point (at the vanish point while the gap is
    open: nothing is known of where it went); all gaps in one vectorised pass."""
    a = g.a
    dur_s = g.dur_s
    n = np.maximum(np.ceil(dur_s / NIGHT_STEP_S), 1).astype(np.int64)
    gap = np.repeat(np.arange(len(a)), n)
    j = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    frac = (j + 0.5) / n[gap]
    lat0, lon0 = track.lat[a][gap], track.lon[a][gap]
    with np.errstate(invalid="ignore"):
        brg = initial_bearing_deg(track.lat[a], track.lon[a], g.end_lat, g.end_lon)
    brg = np.where(g.open, 0.0, brg)[gap]
    slat, slon = destination_point(lat0, lon0, brg, frac * np.nan_to_num(g.dist_m)[gap])
    st = g.t_a[gap] + (frac * dur_s[gap] * US_PER_S).astype(np.int64)
    night = ctx.night(st, slat, slon)
    share_h = (dur_s / n / 3600.0)[gap]
    return np.bincount(gap, weights=np.where(night, share_h, 0.0),
                       minlength=len(a)).astype(np.float64)


# ---------------------------------------------------------------------- expected reception


@dataclass
class Pieces:
    """Reception bookkeeping of a track: one piece per received position (obs = 1) plus one
    per hour boundary crossed by a step (obs = 0). ``exp`` is the number of positions the
    vessel should have sent in the piece's stretch of time (its length / the vessel's usual
    reporting interval), so sum(obs) / sum(exp) over any set of pieces is the share of
    expected positions that arrived. Pieces are in track order (vessel, time)."""

    vessel: I64  # vessel rank in the track
    t_s: I64  # end of the piece, epoch seconds
    lat: F64  # position at the end of the piece (interpolated inside a step)
    lon: F64
    obs: F64
    exp: F64


@dataclass
class ReceptionGrid:
    """Pieces of all vessels binned in ~radius-sized cells, sorted by (cell, time), with
    running sums: the received and expected positions of any cell and time window are two
    ``searchsorted`` calls. Built once per track (or once for the full track by the driver
    when the per-vessel detectors run in shards, see ``RECEPTION_GRID_CACHE_KEY``)."""

    cell_deg: float
    t0_s: int
    span_s: int
    key: I64
    cum_obs: F64
    cum_exp: F64

    def cell(self, lat: F64, lon: F64) -> tuple[I64, I64]:
        return (np.floor((lat + 90.0) / self.cell_deg).astype(np.int64),
                np.floor((lon + 180.0) / self.cell_deg).astype(np.int64))

    def cell_key(self, ci: I64, cj: I64) -> I64:
        return ci * (int(360.0 / self.cell_deg) + 3) + cj

    def sums(self, lat: F64, lon: F64, lo_s: I64, hi_s: I64) -> tuple[F64, F64]:
        """Received and expected positions in the 3x3 cells around each point, for pieces
        ending in (lo_s, hi_s]."""
        ci, cj = self.cell(lat, lon)
        obs = np.zeros(len(lat))
        exp = np.zeros(len(lat))
        lo = np.clip(lo_s - self.t0_s, -1, self.span_s - 1)
        hi = np.clip(hi_s - self.t0_s, -1, self.span_s - 1)
        for di in (-1, 0, 1):  # the 9 cells of the block, each vectorised over the points
            for dj in (-1, 0, 1):
                base = self.cell_key(ci + di, cj + dj) * self.span_s
                i0 = np.searchsorted(self.key, base + lo, side="right")
                i1 = np.searchsorted(self.key, base + hi, side="right")
                obs += self.cum_obs[i1] - self.cum_obs[i0]
                exp += self.cum_exp[i1] - self.cum_exp[i0]
        return obs, exp


def reporting_interval_s(track: Track) -> F64:
    """Usual reporting interval behind each step (row i: the step from i-1): the median step
    of the same vessel in the same speed regime (slow / making way), counting only steps up
    to ``TYPICAL_MAX_INTERVAL_S`` (longer ones are holes). Intervals depend on class and
    speed (ITU-R M.1371) and on the provider's down-sampling, so they are measured, not
    assumed."""
    n = len(track)
    vessel = np.cumsum(track.new_vessel) - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        implied = track.step_m / np.maximum(track.dt_s, 1.0) * MS_TO_KN
    prev_sog = np.r_[np.nan, track.sog[:-1]]
    speed = np.where(np.isfinite(prev_sog), prev_sog, implied)
    slow = (speed < SLOW_KN).astype(np.int64)
    group = vessel * 2 + slow
    dt = track.dt_s
    typical = ~track.new_vessel & (np.nan_to_num(dt, nan=np.inf) <= TYPICAL_MAX_INTERVAL_S)
    rows = np.flatnonzero(typical)
    out = np.where(slow == 1, FALLBACK_INTERVAL_S[1], FALLBACK_INTERVAL_S[0]).astype(np.float64)
    if len(rows):
        order = rows[np.lexsort((dt[rows], group[rows]))]
        g = group[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        counts = np.diff(np.r_[starts, len(g)])
        lo = order[starts + (counts - 1) // 2]
        hi = order[starts + counts // 2]
        med = np.full(int(group.max()) + 1 if n else 0, np.nan)
        med[g[starts]] = (dt[lo] + dt[hi]) / 2.0
        have = np.isfinite(med[group])
        out = np.where(have, med[group], out)
    return np.asarray(np.maximum(out, 1.0), dtype=np.float64)


def reception_pieces(track: Track, ev: EventSettings) -> Pieces:
    """Split every step at the hour boundaries it crosses (see ``Pieces``). A step longer
    than ``dark_gap_min_h`` is a vessel that went dark itself, not evidence about reception:
    nothing is expected of it, and its reappearance counts like a first fix."""
    t_s = track.t // US_PER_S
    restart = track.new_vessel | (np.nan_to_num(track.dt_s, nan=0.0) > ev.dark_gap_min_h * 3600)
    prev_t = np.r_[t_s[0] if len(t_s) else 0, t_s[:-1]]
    prev_t = np.where(restart, t_s, prev_t)
    interval = reporting_interval_s(track)
    # hour boundaries strictly inside (prev_t, t_s): extra pieces
    first_b = (prev_t // PIECE_S + 1) * PIECE_S
    extra = np.maximum((t_s - 1 - first_b) // PIECE_S + 1, 0)
    extra = np.where(restart, 0, extra)
    k = extra + 1
    row = np.repeat(np.arange(len(track)), k)
    j = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
    last = j == extra[row]
    end = np.where(last, t_s[row], first_b[row] + j * PIECE_S)
    begin = np.where(j == 0, prev_t[row], first_b[row] + (j - 1) * PIECE_S)
    exp = (end - begin) / interval[row]
    exp = np.where(restart[row], 1.0, exp)  # a first fix: 1 expected, 1 seen
    prow = np.maximum(row - 1, 0)
    span = np.maximum(t_s[row] - prev_t[row], 1)
    f = np.where(restart[row], 1.0, (end - prev_t[row]) / span)
    lat = track.lat[prow] + f * (track.lat[row] - track.lat[prow])
    lon = track.lon[prow] + f * (track.lon[row] - track.lon[prow])
    vessel = (np.cumsum(track.new_vessel) - 1)[row]
    return Pieces(vessel, end, lat, lon, last.astype(np.float64), exp)


def _cell_deg(ev: EventSettings) -> float:
    return ev.dark_gap_reception_radius_km / 111.32


def build_reception_grid(track: Track, ev: EventSettings, pieces: Pieces | None = None
                         ) -> ReceptionGrid:
    """The received/expected running sums of all vessels of ``track`` per cell and time."""
    p = pieces if pieces is not None else reception_pieces(track, ev)
    cell = _cell_deg(ev)
    t0 = int(p.t_s.min()) - 1 if len(p.t_s) else 0
    span = int(p.t_s.max()) - t0 + 2 if len(p.t_s) else 2
    grid = ReceptionGrid(cell, t0, span, np.zeros(0, np.int64), np.zeros(1), np.zeros(1))
    ci, cj = grid.cell(p.lat, p.lon)
    key = grid.cell_key(ci, cj) * span + (p.t_s - t0)
    order = np.argsort(key, kind="stable")
    grid.key = key[order]
    grid.cum_obs = np.r_[0.0, np.cumsum(p.obs[order])]
    grid.cum_exp = np.r_[0.0, np.cumsum(p.exp[order])]
    return grid


@dataclass
class Reception:
    ratio: F64
    before: F64
    during: F64
    obs_before: F64
    exp_before: F64

    def describe(self, k: int) -> str:
        during = "" if not np.isfinite(self.during[k]) else \
            f", neighbours during the gap {self.during[k]:.2f}"
        if not np.isfinite(self.before[k]):
            return "reception not measurable" + during
        return (f"reception before the gap {self.before[k]:.2f} "
                f"({self.obs_before[k]:.0f} of {self.exp_before[k]:.0f} expected positions)"
                + during)


def reception_ratios(track: Track, ev: EventSettings, a: I64, end_us: I64,
                     grid: ReceptionGrid, own: Pieces) -> Reception:
    """Expected-reception measure of each gap (vanish row ``a``, silence ending at ``end_us``:
    the reappearance, or the end of the day's data for an open gap).

    before = received / expected positions in the ``dark_gap_reception_window_h`` before the
    vanish, of this vessel (wherever it was) and of the other vessels in the 3x3 grid cells
    (cell side = ``dark_gap_reception_radius_km``) around the vanish point: low in a
    satellite-only stretch or a reception hole, ~1 where the area is well covered.
    during = the same for the other vessels only, over the first window of the silence: low
    when the neighbours fell silent too (a station outage starting with the gap), ~1 when
    they kept reporting while this vessel did not. Judged only when the neighbours were
    expected at least ``MIN_EXPECTED_DURING`` times.
    reception_ratio = the lower of the two, clipped to [0, 1]; NaN when nothing was expected.
    """
    win_s = int(ev.dark_gap_reception_window_h * 3600)
    ta = track.t[a] // US_PER_S
    tb = end_us // US_PER_S
    lat, lon = track.lat[a], track.lon[a]
    # own pieces of each gap's vessel in a window: a contiguous range (pieces are in
    # (vessel, time) order), found through a (vessel, time) key
    t0 = int(own.t_s.min()) - win_s - 1
    span = int(own.t_s.max()) - t0 + win_s + 2
    okey = own.vessel * span + (own.t_s - t0)
    vessel = (np.cumsum(track.new_vessel) - 1)[a]
    ci, cj = grid.cell(lat, lon)

    def own_sums(lo: I64, hi: I64, in_block_only: bool) -> tuple[F64, F64]:
        i0 = np.searchsorted(okey, vessel * span + (lo - t0), side="right")
        i1 = np.searchsorted(okey, vessel * span + (hi - t0), side="right")
        cnt = i1 - i0
        gap = np.repeat(np.arange(len(a)), cnt)
        idx = np.repeat(i0, cnt) + np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt,
                                                                          cnt)
        w = np.ones(len(idx), dtype=bool)
        if in_block_only:
            pi, pj = grid.cell(own.lat[idx], own.lon[idx])
            w = (np.abs(pi - ci[gap]) <= 1) & (np.abs(pj - cj[gap]) <= 1)
        obs = np.bincount(gap, np.where(w, own.obs[idx], 0.0), minlength=len(a))
        exp = np.bincount(gap, np.where(w, own.exp[idx], 0.0), minlength=len(a))
        return obs.astype(np.float64), exp.astype(np.float64)

    # before the gap: the vessel itself + its neighbours (block minus the vessel's own share)
    lo_b, hi_b = ta - win_s, ta
    g_obs, g_exp = grid.sums(lat, lon, lo_b, hi_b)
    ob_blk, ex_blk = own_sums(lo_b, hi_b, True)
    ob_all, ex_all = own_sums(lo_b, hi_b, False)
    obs_before = ob_all + np.maximum(g_obs - ob_blk, 0.0)
    exp_before = ex_all + np.maximum(g_exp - ex_blk, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = np.where(exp_before >= 1.0, obs_before / exp_before, np.nan)
    # during the gap: neighbours only
    lo_d, hi_d = ta, np.minimum(tb, ta + win_s)
    d_obs, d_exp = grid.sums(lat, lon, lo_d, hi_d)
    od_blk, ed_blk = own_sums(lo_d, hi_d, True)
    nb_obs = np.maximum(d_obs - od_blk, 0.0)
    nb_exp = np.maximum(d_exp - ed_blk, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        during = np.where(nb_exp >= MIN_EXPECTED_DURING, nb_obs / nb_exp, np.nan)
    ratio = np.clip(np.fmin(before, during), 0.0, 1.0)
    return Reception(ratio, before, during, obs_before, exp_before)
