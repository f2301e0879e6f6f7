"""AIS realism: what a shore/satellite network actually delivers from the planned tracks.

Reporting intervals follow ITU-R M.1371: Class A every 2 s (> 23 kn), 6 s (14-23 kn) or
10 s (under way, ≤ 14 kn) and every 3 min at anchor or moored; Class B "CS" every 30 s
above 2 kn and every 3 min at ≤ 2 kn; static data every 6 min. A network never keeps every
Class A transmission (slot collisions, receiver de-duplication, 1-min downsampling by many
providers), so the *received* Class A under-way interval is nominal × ``class_a_underway_thinning``
(default 3: 6/18/30 s); set it to 1 for raw rates.

Then, none of which is smuggling: reception falls off with distance from shore (beyond
``satellite_only_beyond_km`` only ~14-min satellite passes every ~95 min hear anything), each
vessel has a few random holes per day, one coastal station is down for a few hours, reports
arrive twice (two receivers) or late and out of order, positions carry GPS noise, a few
reports jump (glitches), and "not available" sentinels appear (SOG 102.3, COG 360,
heading 511; lat 91 / lon 181 from a few faulty units, which ingest quarantines).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from pipeline import geo
from pipeline.config import SimulateSettings
from pipeline.simulate.identities import Fleet
from pipeline.simulate.seamap import SeaMap
from pipeline.simulate.tracks import AT_ANCHOR, F64, I64, MOORED, Knots, locate

KN = 0.514444
SAT_PERIOD_S = 95 * 60.0
SAT_PASS_S = 14 * 60.0
STATIC_INTERVAL_S = 360.0


@dataclass
class Reports:
    """Received position reports, one per row (before writing)."""

    vid: I64
    t: I64  # epoch seconds, the report's time stamp
    lat: F64
    lon: F64
    sog: F64
    cog: F64
    heading: F64
    status: npt.NDArray[np.int8]
    msg_type: npt.NDArray[np.int8]
    order: F64  # delivery time: file order (late and out-of-order reports)
    duplicate: npt.NDArray[np.bool_]  # an extra copy of the previous report
    unavailable: npt.NDArray[np.bool_]  # lat 91 / lon 181 written (quarantined at ingest)

    def __len__(self) -> int:
        return len(self.vid)

    def take(self, idx: npt.ArrayLike) -> Reports:
        i = np.asarray(idx)
        return Reports(*(getattr(self, f.name)[i] for f in fields(Reports)))

    @staticmethod
    def concat(parts: list[Reports]) -> Reports:
        return Reports(*(np.concatenate([getattr(p, f.name) for p in parts])
                         for f in fields(Reports)))


@dataclass
class Conditions:
    """Per-day reception conditions shared by all vessel kinds (one station outage)."""

    sat_phase: float
    outage_lat: float
    outage_lon: float
    outage_t0: float
    outage_t1: float
    outage_radius_m: float = 80_000.0


def day_conditions(rng: np.random.Generator, sm: SeaMap, w0: float) -> Conditions:
    ports = sm.harbours or sm.gateways
    h = ports[int(rng.integers(len(ports)))] if ports else None
    t0 = w0 + rng.uniform(0, 20) * 3600
    return Conditions(
        sat_phase=float(rng.uniform(0, SAT_PERIOD_S)),
        outage_lat=h.lat if h else 0.0, outage_lon=h.lon if h else 0.0,
        outage_t0=t0, outage_t1=t0 + rng.uniform(1, 4) * 3600,
    )


def nominal_interval_s(cls_a: npt.NDArray[np.bool_], speed_kn: F64, status: npt.ArrayLike,
                       thinning: float) -> F64:
    """Received reporting interval per leg: ITU nominal (Class A thinned, see module doc)."""
    st = np.asarray(status)
    slow_a = ((st == AT_ANCHOR) | (st == MOORED)) & (speed_kn < 3.0) | (speed_kn < 0.3)
    a = np.select([slow_a, speed_kn > 23, speed_kn > 14], [180.0, 2.0 * thinning,
                                                           6.0 * thinning], 10.0 * thinning)
    b = np.where(speed_kn > 2.0, 30.0, 180.0)
    return np.where(cls_a, a, b)


def reception_probability(sm: SeaMap, cfg: SimulateSettings, cond: Conditions, lat: F64,
                          lon: F64, t: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Probability that a report reaches the feed; and whether only a satellite heard it."""
    d_km = sm.shore_m(lat, lon) / 1000.0
    near, far = cfg.coastal_coverage_km, cfg.satellite_only_beyond_km
    frac = np.clip((d_km - near) / max(far - near, 1e-6), 0, 1)
    p = 0.97 - frac * 0.62
    sat_only = d_km > far
    in_pass = np.mod(t - cond.sat_phase, SAT_PERIOD_S) < SAT_PASS_S
    p = np.where(sat_only, np.where(in_pass, 0.8, 0.01), p)
    out = (geo.haversine_m(lat, lon, cond.outage_lat, cond.outage_lon) < cond.outage_radius_m) & (
        (t >= cond.outage_t0) & (t < cond.outage_t1))
    p = np.where(out & ~sat_only, 0.0, p)
    return p, sat_only


def sample_reports(kn: Knots, fleet: Fleet, w0: float, w1: float, rng: np.random.Generator,
                   cfg: SimulateSettings, sm: SeaMap, cond: Conditions,
                   faulty: npt.NDArray[np.bool_]) -> Reports:
    """AIS position reports received in [w0, w1) from knots sorted by (vid, t)."""
    base = w0
    n = len(kn)
    if n < 2:
        return _empty()
    i = np.flatnonzero((kn.vid[:-1] == kn.vid[1:]) & kn.on[:-1])
    a = np.maximum(kn.t[i], w0)
    b = np.minimum(kn.t[i + 1], w1)
    keep = b > a
    i, a, b = i[keep], a[keep], b[keep]
    dur = np.maximum(kn.t[i + 1] - kn.t[i], 1e-6)
    dist = geo.haversine_m(kn.lat[i], kn.lon[i], kn.lat[i + 1], kn.lon[i + 1])
    spd = dist / dur / KN
    brg = geo.initial_bearing_deg(kn.lat[i], kn.lon[i], kn.lat[i + 1], kn.lon[i + 1])
    vid_leg = kn.vid[i]
    cls_a = fleet.cls[vid_leg] == "A"
    iv = nominal_interval_s(cls_a, spd, kn.status[i], cfg.class_a_underway_thinning)
    phase = rng.uniform(0, 1, len(i)) * iv
    cnt = np.maximum(np.floor((b - a - phase) / iv).astype(np.int64) + 1, 0)
    leg = np.repeat(np.arange(len(i)), cnt)
    j = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    t = a[leg] + phase[leg] + j * iv[leg] + rng.uniform(-0.08, 0.08, len(leg)) * iv[leg]
    t = np.clip(t, a[leg], np.nextafter(b[leg], a[leg]))
    vid = vid_leg[leg]
    k = i[leg]
    f = (t - kn.t[k]) / dur[leg]
    lat = kn.lat[k] + f * (kn.lat[k + 1] - kn.lat[k])
    lon = kn.lon[k] + f * (kn.lon[k + 1] - kn.lon[k])
    # reception
    p, sat_only = reception_probability(sm, cfg, cond, lat, lon, t)
    got = rng.random(len(t)) < p
    got &= ~_holes(rng, vid, t, w0, len(fleet))
    ts = np.floor(t).astype(np.int64)
    sel = np.flatnonzero(got)
    # one report per vessel and second
    key = vid[sel] * np.int64(1 << 32) + (ts[sel] - int(base))
    _, first = np.unique(key, return_index=True)
    sel = sel[np.sort(first)]
    leg, vid, ts, lat, lon, sat_only = leg[sel], vid[sel], ts[sel], lat[sel], lon[sel], sat_only[sel]
    m = len(sel)
    s = spd[leg]
    sog = np.clip(s + rng.normal(0, 0.05 + 0.02 * s, m), 0, 60)
    sog = np.where(s < 0.05, 0.0, np.round(sog, 1))
    cog_noise = np.where(s < 1.0, 40.0, 1.5)
    cog = np.mod(np.round(brg[leg] + rng.normal(0, 1, m) * cog_noise, 1), 360.0)
    heading = np.mod(np.round(brg[leg] + rng.normal(0, 2.5, m)), 360.0)
    heading = np.where(fleet.has_heading[vid], heading, 511.0)
    # GPS noise, then rare sentinels
    nb = rng.uniform(0, 360, m)
    lat, lon = geo.destination_point(lat, lon, nb, np.abs(rng.normal(0, cfg.position_noise_m, m)))
    u = rng.random(m)
    sog = np.where(u < 0.002, 102.3, sog)
    cog = np.where((u >= 0.002) & (u < 0.004), 360.0, cog)
    status = kn.status[i[leg]]
    cls_row = fleet.cls[vid] == "A"
    msg = np.where(cls_row, np.where(rng.random(m) < 0.04, 3, 1), 18).astype(np.int8)
    # glitches: a single report jumps far away (kept only where the jump lands at sea)
    g = np.flatnonzero(rng.random(m) < cfg.glitch_rate)
    if len(g):
        gl, go = geo.destination_point(lat[g], lon[g], rng.uniform(0, 360, len(g)),
                                       rng.uniform(5_000, 150_000, len(g)))
        sea = ~sm.on_land(gl, go)
        lat[g[sea]], lon[g[sea]] = gl[sea], go[sea]
    unavailable = faulty[vid] & (rng.random(m) < 0.03)
    lat = np.where(unavailable, 91.0, lat)
    lon = np.where(unavailable, 181.0, lon)
    order = ts + np.where(sat_only, rng.uniform(0, 3600, m), 0.0)
    late = rng.random(m) < cfg.late_rate
    order = order + np.where(late, rng.uniform(60, 5400, m), rng.uniform(0, 0.9, m))
    rep = Reports(vid, ts, lat, lon, sog, cog, heading, status.astype(np.int8), msg, order,
                  np.zeros(m, bool), unavailable)
    dup = np.flatnonzero(rng.random(m) < cfg.duplicate_rate)
    if len(dup):
        extra = rep.take(dup)
        extra.order = extra.order + rng.uniform(0.1, 30, len(dup))
        extra.duplicate = np.ones(len(dup), bool)
        rep = Reports.concat([rep, extra])
    return rep


def _holes(rng: np.random.Generator, vid: I64, t: F64, w0: float, n_vid: int
           ) -> npt.NDArray[np.bool_]:
    """Random per-vessel reception holes (0-2 a day, 20-120 min): not smuggling."""
    per = rng.poisson(0.8, n_vid)
    starts = w0 + rng.uniform(0, 86400, (n_vid, 2))
    lens = rng.uniform(1200, 7200, (n_vid, 2))
    out = np.zeros(len(t), bool)
    for h in range(2):
        has = per[vid] > h
        out |= has & (t >= starts[vid, h]) & (t < starts[vid, h] + lens[vid, h])
    return out


def static_times(kn: Knots, fleet: Fleet, w0: float, w1: float, rng: np.random.Generator,
                 cfg: SimulateSettings, sm: SeaMap, cond: Conditions
                 ) -> tuple[I64, I64]:
    """Received static reports (every 6 min while transmitting): (vid, epoch seconds)."""
    vids = np.unique(kn.vid)
    if not len(vids):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    per = int(np.ceil((w1 - w0) / STATIC_INTERVAL_S))
    ph = rng.uniform(0, STATIC_INTERVAL_S, len(vids))
    t = w0 + ph[:, None] + STATIC_INTERVAL_S * np.arange(per)[None, :]
    vid = np.repeat(vids, per)
    t = t.ravel()
    inside = t < w1
    vid, t = vid[inside], t[inside]
    loc = locate(kn, vid, t, w0)
    on = loc.ok & kn.on[loc.seg]
    p, _ = reception_probability(sm, cfg, cond, loc.lat, loc.lon, t)
    got = on & (rng.random(len(t)) < p)
    return vid[got], np.floor(t[got]).astype(np.int64)


def _empty() -> Reports:
    z = np.zeros(0)
    return Reports(np.zeros(0, np.int64), np.zeros(0, np.int64), z, z, z, z, z,
                   np.zeros(0, np.int8), np.zeros(0, np.int8), z, np.zeros(0, bool),
                   np.zeros(0, bool))
