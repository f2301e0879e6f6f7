"""Tracks as knots: piecewise-linear movement plans, shared by every vessel kind.

Why knots: a vessel's day is a few dozen turning points, not thousands of positions. The
generators produce knots (vectorised over vessels), and the reception model samples AIS
reports from them at the reporting intervals of ITU-R M.1371. Interpolation is linear in
lon/lat, exactly like the legs that ``SeaMap.clear`` checked against land.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from pipeline import geo

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

UNDER_WAY, AT_ANCHOR, MOORED, FISHING, UNDEFINED = 0, 1, 5, 7, 15
KEY_SCALE = 1e8  # seconds per vid in the combined sort key (about three years)


@dataclass
class Knots:
    """Turning points, sorted by (vid, t). ``status`` and ``on`` describe the leg that starts
    at the knot: AIS navigational status and whether the transponder transmits."""

    vid: I64
    t: F64  # epoch seconds (UTC)
    lat: F64
    lon: F64
    status: npt.NDArray[np.int8]
    on: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.vid)

    @staticmethod
    def empty() -> Knots:
        return Knots(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0),
                     np.zeros(0, np.int8), np.zeros(0, bool))

    @staticmethod
    def of(vid: npt.ArrayLike, t: npt.ArrayLike, lat: npt.ArrayLike, lon: npt.ArrayLike,
           status: npt.ArrayLike, on: npt.ArrayLike) -> Knots:
        vid_a, t_a, lat_a, lon_a, st_a, on_a = np.broadcast_arrays(
            np.asarray(vid), np.asarray(t, float), np.asarray(lat, float),
            np.asarray(lon, float), np.asarray(status), np.asarray(on))
        return Knots(vid_a.ravel().astype(np.int64), t_a.ravel().astype(float),
                     lat_a.ravel().astype(float), lon_a.ravel().astype(float),
                     st_a.ravel().astype(np.int8), on_a.ravel().astype(bool))

    @staticmethod
    def concat(parts: list[Knots]) -> Knots:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Knots.empty()
        return Knots(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Knots)))

    def take(self, idx: npt.ArrayLike) -> Knots:
        i = np.asarray(idx)
        return Knots(*(getattr(self, f.name)[i] for f in fields(Knots)))

    def sorted(self, base: float) -> Knots:
        """Sorted by (vid, t); equal times keep their input order (stable)."""
        order = np.argsort(self.key(base), kind="stable")
        return self.take(order)

    def key(self, base: float) -> F64:
        return self.vid * KEY_SCALE + (self.t - base)

    def offset(self, vid_offset: int) -> Knots:
        return Knots(self.vid + vid_offset, self.t, self.lat, self.lon, self.status, self.on)


def expand_cyclic(tpl: Knots, period: F64, phase: F64, w0: float, w1: float) -> Knots:
    """Repeat each vessel's template (times 0..period, sorted) over the window [w0, w1).

    ``period`` and ``phase`` are indexed by vid. One cycle more on either side keeps every
    leg that crosses the window's edges.
    """
    if not len(tpl):
        return Knots.empty()
    order = np.lexsort((tpl.t, tpl.vid))
    tpl = tpl.take(order)
    vids, start, cnt = np.unique(tpl.vid, return_index=True, return_counts=True)
    P, ph = period[vids], phase[vids]
    k0 = np.floor((w0 - ph) / P).astype(np.int64) - 1
    k1 = np.floor((w1 - ph) / P).astype(np.int64) + 1
    ncyc = k1 - k0 + 1
    total = ncyc * cnt
    v_of = np.repeat(np.arange(len(vids)), total)
    j = np.arange(int(total.sum())) - np.repeat(np.cumsum(total) - total, total)
    cycle = j // cnt[v_of]
    knot = start[v_of] + j % cnt[v_of]
    t = ph[v_of] + (k0[v_of] + cycle) * P[v_of] + tpl.t[knot]
    out = tpl.take(knot)
    out.t = t
    return out


@dataclass
class Lookup:
    """Where queries fall on the knots: leg index and interpolated position."""

    seg: I64  # index of the leg's first knot
    ok: npt.NDArray[np.bool_]  # query lies on a leg of its own vessel
    lat: F64
    lon: F64


def locate(kn: Knots, vid: I64, t: F64, base: float) -> Lookup:
    """Interpolate positions of (vid, t) queries on sorted knots (one searchsorted)."""
    kk = kn.key(base)
    qk = vid * KEY_SCALE + (t - base)
    i = np.searchsorted(kk, qk, side="right") - 1
    i = np.clip(i, 0, max(len(kn) - 2, 0))
    j = np.minimum(i + 1, len(kn) - 1)
    ok = (kn.vid[i] == vid) & (kn.vid[j] == vid) & (t >= kn.t[i]) & (t <= kn.t[j])
    dt = np.maximum(kn.t[j] - kn.t[i], 1e-9)
    f = np.clip((t - kn.t[i]) / dt, 0.0, 1.0)
    lat = kn.lat[i] + f * (kn.lat[j] - kn.lat[i])
    lon = kn.lon[i] + f * (kn.lon[j] - kn.lon[i])
    return Lookup(i.astype(np.int64), ok, lat, lon)


def leg_times(lat: F64, lon: F64, speed_kn: npt.ArrayLike) -> F64:
    """Seconds to sail each leg between consecutive points at ``speed_kn``."""
    d = geo.haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    return np.asarray(d / (np.asarray(speed_kn) * 0.514444), dtype=float)


def random_in_disc(rng: np.random.Generator, lat: npt.ArrayLike, lon: npt.ArrayLike,
                   radius_m: npt.ArrayLike, size: tuple[int, ...] | None = None
                   ) -> tuple[F64, F64]:
    """Uniform points in discs (broadcast); a disc known to be at sea keeps them at sea."""
    shape = size if size is not None else np.shape(lat)
    r = np.sqrt(rng.random(shape)) * np.asarray(radius_m)
    b = rng.uniform(0, 360, shape)
    return geo.destination_point(lat, lon, b, r)
