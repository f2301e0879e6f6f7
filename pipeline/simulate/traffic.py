"""Background traffic: cargo ships and tankers on lanes, ferries, tugs, ships at anchor, fishing.

Why it matters: smuggling hides in this traffic, and the confounders must be realistic for a
detector to be tested honestly. Fishing boats loiter at night near the coast (and near the
departure beaches), sometimes with AIS off; ships wait at anchor for days; ferries shuttle on
schedules. Merchant kinds repeat a fixed cycle (voyage, berth, return), so any day can be
generated independently of the others; fishing trips are drawn per local night.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt

from pipeline import geo
from pipeline.config import Region
from pipeline.simulate.identities import Fleet, make_fleet
from pipeline.simulate.seamap import Harbour, SeaMap
from pipeline.simulate.tracks import (
    AT_ANCHOR,
    F64,
    FISHING,
    I64,
    MOORED,
    UNDER_WAY,
    Knots,
    expand_cyclic,
    leg_times,
)

H = 3600.0
MAX_ROUTES = 60  # merchant services: vessels share a limited set of port pairs


@dataclass
class PortCall:
    """A berth visit inside a cyclic template (times relative to the cycle start)."""

    vid: int
    harbour: Harbour
    t_arr: float
    t_dep: float


@dataclass
class Background:
    fleet: Fleet
    tpl: Knots  # cyclic templates of the merchant kinds (times relative, vid = fleet index)
    period: F64  # by vid (nan for fishing)
    phase: F64
    calls: list[PortCall] = field(default_factory=list)
    fishing_vid: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    home: F64 = field(default_factory=lambda: np.zeros((0, 2)))  # lat, lon per fishing vessel
    grounds: F64 = field(default_factory=lambda: np.zeros((0, 4, 3)))  # lat, lon, radius m
    port_off: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    home_base_names: list[str] = field(default_factory=list)


def _pick(rng: np.random.Generator, items: list[Harbour], n: int) -> list[Harbour]:
    return [items[i] for i in rng.integers(0, len(items), n)] if items else []


def _merchant_services(rng: np.random.Generator, sm: SeaMap
                       ) -> list[tuple[Harbour, Harbour, F64, F64]]:
    """Port pairs (and region-edge gateways) with a sea route between them."""
    comps = [h.component for h in sm.harbours if h.component >= 0]
    if not comps:
        return []
    main = int(np.bincount(comps).argmax())
    ports = [h for h in sm.harbours if h.component == main]
    gates = [g for g in sm.gateways if g.component == main]
    ends = ports + gates
    out: list[tuple[Harbour, Harbour, F64, F64]] = []
    tries = 0
    while len(out) < MAX_ROUTES and tries < MAX_ROUTES * 4 and len(ends) >= 2:
        tries += 1
        a = ports[rng.integers(len(ports))] if ports and rng.random() < 0.75 else \
            ends[rng.integers(len(ends))]
        b = ends[rng.integers(len(ends))]
        if a is b or (a.gateway and b.gateway and rng.random() < 0.5):
            continue
        if geo.haversine_m(a.lat, a.lon, b.lat, b.lon) < 50_000:
            continue
        r = sm.route(a.lat, a.lon, b.lat, b.lon)
        if r is not None:
            out.append((a, b, r[0], r[1]))
    return out


def _voyage_template(vid: int, a: Harbour, b: Harbour, lat: F64, lon: F64, speed: float,
                     dwell_a: float, dwell_b: float, calls: list[PortCall]
                     ) -> tuple[Knots, float]:
    """Berth at A, sail the route, berth at B, sail back: one cycle of knots."""
    legs = leg_times(lat, lon, speed)
    out_t = dwell_a + np.concatenate([[0.0], np.cumsum(legs)])
    voyage = float(out_t[-1] - dwell_a)
    back_t = out_t[-1] + dwell_b + np.concatenate([[0.0], np.cumsum(legs[::-1])])
    period = float(back_t[-1])
    t = np.concatenate([[0.0], out_t, back_t[:-1]])
    la = np.concatenate([[a.lat], lat, lat[::-1][:-1]])
    lo = np.concatenate([[a.lon], lon, lon[::-1][:-1]])
    st = np.full(len(t), UNDER_WAY, dtype=np.int8)
    on = np.ones(len(t), dtype=bool)
    n_out = len(out_t)
    st[0] = MOORED  # at A until dwell_a
    st[n_out] = MOORED  # arrival at B, berth until dwell_b ends
    on[0] = not a.gateway
    on[n_out] = not b.gateway
    for h, ta, td in ((a, 0.0, dwell_a), (b, dwell_a + voyage, dwell_a + voyage + dwell_b)):
        if not h.gateway:
            calls.append(PortCall(vid, h, ta, td))
    return Knots.of(vid, t, la, lo, st, on), period


def build_background(
    rngs: dict[str, np.random.Generator], sm: SeaMap, region: Region,
    counts: dict[str, int], taken: set[int], tz_offset_h: float,
) -> Background:
    """Fleet and movement plans of every background kind (day-independent parts)."""
    mids = region.flag_mids
    fleets: list[Fleet] = []
    tpls: list[Knots] = []
    periods: list[float] = []
    phases: list[float] = []
    calls: list[PortCall] = []
    vid = 0
    # the fishing fleet's home bases: small ports and the departure beaches' villages
    bases: list[tuple[str, float, float]] = []
    for z in region.departure_points:
        p = sm.sea_point_near(*z.centre, min_km=0.3)
        if p is not None:
            bases.append((z.name, p[0], p[1]))
    for h in sm.harbours:
        if h.size in ("Small", "Very Small", ""):
            bases.append((h.name, h.lat, h.lon))
    if not bases:
        bases = [(h.name, h.lat, h.lon) for h in sm.harbours] or [
            (g.name, g.lat, g.lon) for g in sm.gateways]

    services = _merchant_services(rngs["services"], sm)
    harbours = [h for h in sm.harbours if h.component >= 0] or list(sm.harbours)
    for kind in ("cargo", "tanker", "ferry", "tug", "anchored"):
        n = counts.get(kind, 0)
        rng = rngs[kind]
        if n == 0:
            continue
        if kind in ("cargo", "tanker") and not services:
            counts["fishing"] = counts.get("fishing", 0) + n
            continue
        if kind in ("ferry", "tug", "anchored") and not harbours:
            counts["fishing"] = counts.get("fishing", 0) + n
            continue
        f = make_fleet(rng, kind, n, mids, taken)
        for i in range(n):  # per vessel (templates), never per position
            v = vid + i
            spd = float(f.speed_kn[i])
            if kind in ("cargo", "tanker"):
                a, b, lat, lon = services[int(rng.integers(len(services)))]
                if rng.random() < 0.5:
                    a, b, lat, lon = b, a, lat[::-1], lon[::-1]
                kn, P = _voyage_template(v, a, b, lat, lon, spd, rng.uniform(8, 36) * H,
                                         rng.uniform(8, 36) * H, calls)
                f.destination[i] = (b.locode or b.name)[:20] if not b.gateway else ""
                phase = rng.uniform(0, P)
            elif kind == "ferry":
                kn, P, phase = _ferry(rng, v, harbours, sm, spd, tz_offset_h, calls)
            elif kind == "tug":
                kn, P, phase = _tug(rng, v, harbours, sm, spd, calls)
            else:
                kn, P, phase = _anchored(rng, v, harbours, sm, spd, calls)
            tpls.append(kn)
            periods.append(P)
            phases.append(phase)
        fleets.append(f)
        vid += n
    nf = counts.get("fishing", 0)
    fish = make_fleet(rngs["fishing"], "fishing", nf, mids, taken)
    fleets.append(fish)
    fv = np.arange(vid, vid + nf, dtype=np.int64)
    periods += [np.nan] * nf
    phases += [np.nan] * nf
    home, grounds, names = _fishing_grounds(rngs["fishing"], sm, bases, nf)
    fleet = Fleet.concat(fleets) if fleets else fish
    return Background(
        fleet=fleet, tpl=Knots.concat(tpls), period=np.asarray(periods, float),
        phase=np.asarray(phases, float), calls=calls, fishing_vid=fv, home=home,
        grounds=grounds, port_off=(fish.cls == "B") & (rngs["fishing"].random(nf) < 0.5),
        home_base_names=names,
    )


def _ferry(rng: np.random.Generator, v: int, harbours: list[Harbour], sm: SeaMap,
           spd: float, tz_h: float, calls: list[PortCall]) -> tuple[Knots, float, float]:
    for _ in range(30):
        a, b = _pick(rng, harbours, 2)
        d = geo.haversine_m(a.lat, a.lon, b.lat, b.lon)
        if a is b or not 15_000 < d < 350_000 or a.component != b.component:
            continue
        r = sm.route(a.lat, a.lon, b.lat, b.lon)
        if r is None:
            continue
        dwell = float(rng.choice([1.0, 1.5, 2.0, 3.0])) * H
        kn, P = _voyage_template(v, a, b, r[0], r[1], spd, dwell, dwell, calls)
        # departures on the local hour: a timetable
        P = float(np.ceil(P / H) * H)
        phase = float(rng.integers(0, 24)) * H - tz_h * H
        return kn, P, phase
    return _tug(rng, v, harbours, sm, spd, calls)


def _work_point(rng: np.random.Generator, sm: SeaMap, h: Harbour, lo_km: float, hi_km: float,
                min_shore_m: float) -> tuple[float, float, float] | None:
    """A sea point off a harbour with a clear leg from it and a safe radius around it."""
    b = rng.uniform(0, 360, 16)
    d = rng.uniform(lo_km, hi_km, 16) * 1000
    lat, lon = geo.destination_point(h.lat, h.lon, b, d)
    shore = sm.exact_shore_m(lat, lon)
    ok = (shore >= min_shore_m) & sm.clear(h.lat, h.lon, lat, lon)
    if not ok.any():
        return None
    i = int(np.flatnonzero(ok)[0])
    return float(lat[i]), float(lon[i]), float(shore[i])


def _tug(rng: np.random.Generator, v: int, harbours: list[Harbour], sm: SeaMap, spd: float,
         calls: list[PortCall]) -> tuple[Knots, float, float]:
    h = _pick(rng, harbours, 1)[0]
    wp = _work_point(rng, sm, h, 1.5, 8.0, 900.0)
    if wp is None:
        wp = (h.lat, h.lon, 0.0)
    lat, lon, shore = wp
    r = max(min(shore - 600.0, 500.0), 0.0)
    dwell = rng.uniform(2, 6) * H
    go = float(leg_times(np.array([h.lat, lat]), np.array([h.lon, lon]), spd)[0])
    # assist: a few slow legs around the work point (1-3 kn)
    n_work = 4
    wl, wo = geo.destination_point(lat, lon, rng.uniform(0, 360, n_work),
                                   np.sqrt(rng.random(n_work)) * r)
    pts_lat = np.concatenate([[lat], wl, [lat]])
    pts_lon = np.concatenate([[lon], wo, [lon]])
    work = leg_times(pts_lat, pts_lon, rng.uniform(1.0, 3.0))
    work = np.maximum(work, 300.0)
    t = np.concatenate([[0.0, dwell], dwell + go + np.concatenate([[0.0], np.cumsum(work)])])
    t_back = t[-1] + go
    la = np.concatenate([[h.lat, h.lat], pts_lat])
    lo = np.concatenate([[h.lon, h.lon], pts_lon])
    st = np.full(len(t), UNDER_WAY, dtype=np.int8)
    st[0] = MOORED
    kn = Knots.of(v, t, la, lo, st, True)
    return kn, float(t_back), float(rng.uniform(0, t_back))


def _anchored(rng: np.random.Generator, v: int, harbours: list[Harbour], sm: SeaMap,
              spd: float, calls: list[PortCall]) -> tuple[Knots, float, float]:
    """Waits at an anchorage off the port for days, berths, comes back out to wait again."""
    big = [h for h in harbours if h.size in ("Large", "Medium")] or harbours
    h = _pick(rng, big, 1)[0]
    wp = _work_point(rng, sm, h, 3.0, 12.0, 1500.0)
    if wp is None:
        wp = (h.lat, h.lon, 0.0)
    lat, lon, _ = wp
    wait = rng.uniform(1.0, 4.0) * 24 * H
    n_sw = max(int(wait / (1.2 * H)), 2)
    sl, so = geo.destination_point(lat, lon, rng.uniform(0, 360, n_sw), rng.uniform(20, 150, n_sw))
    t_sw = np.sort(rng.uniform(0, wait, n_sw))
    t_sw[0] = 0.0
    go = float(leg_times(np.array([lat, h.lat]), np.array([lon, h.lon]), min(spd, 7.0))[0])
    berth = rng.uniform(12, 36) * H
    t = np.concatenate([t_sw, [wait, wait + go, wait + go + berth]])
    la = np.concatenate([sl, [lat, h.lat, h.lat]])
    lo = np.concatenate([so, [lon, h.lon, h.lon]])
    st = np.concatenate([np.full(n_sw, AT_ANCHOR), [UNDER_WAY, MOORED, UNDER_WAY]]).astype(np.int8)
    P = wait + 2 * go + berth
    calls.append(PortCall(v, h, wait + go, wait + go + berth))
    return Knots.of(v, t, la, lo, st, True), float(P), float(rng.uniform(0, P))


def _fishing_grounds(rng: np.random.Generator, sm: SeaMap, bases: list[tuple[str, float, float]],
                     n: int) -> tuple[F64, F64, list[str]]:
    """Home base and four fishing grounds (disc at sea, clear leg from home) per vessel."""
    if n == 0 or not bases:
        return np.zeros((n, 2)), np.zeros((n, 4, 3)), [""] * n
    bi = rng.integers(0, len(bases), n)
    home = np.array([[bases[i][1], bases[i][2]] for i in bi])
    k = 12
    b = rng.uniform(0, 360, (n, k))
    d = rng.uniform(3, 35, (n, k)) * 1000 * rng.choice([1.0, 0.4], (n, k), p=[0.7, 0.3])
    lat, lon = geo.destination_point(home[:, :1], home[:, 1:], b, d)
    shore = sm.exact_shore_m(lat.ravel(), lon.ravel()).reshape(n, k)
    ok = (shore >= 1500) & sm.clear(np.repeat(home[:, 0], k), np.repeat(home[:, 1], k),
                                    lat.ravel(), lon.ravel()).reshape(n, k)
    grounds = np.zeros((n, 4, 3))
    for i in range(n):  # per vessel: choose up to four valid candidates
        good = np.flatnonzero(ok[i])
        if not len(good):
            grounds[i, :, 0], grounds[i, :, 1], grounds[i, :, 2] = home[i, 0], home[i, 1], 0.0
            continue
        pick = good[np.arange(4) % len(good)]
        grounds[i, :, 0], grounds[i, :, 1] = lat[i, pick], lon[i, pick]
        grounds[i, :, 2] = np.minimum(shore[i, pick] - 1000.0, 4000.0)
    return home, grounds, [bases[i][0] for i in bi]


def local_midnight_utc(day: date, tz_offset_h: float) -> float:
    """Epoch seconds of local 00:00 on ``day`` for a fixed UTC offset (no DST in the regions)."""
    return datetime.combine(day, time()).timestamp() - _local_epoch_bias() - tz_offset_h * H


def _local_epoch_bias() -> float:
    # datetime.timestamp() of a naive datetime uses the machine's zone: remove it
    ref = datetime(2000, 1, 1)
    return ref.timestamp() - (ref - datetime(1970, 1, 1)).total_seconds()


def fishing_knots(rng_for_night: dict[date, np.random.Generator], bg: Background,
                  tz_offset_h: float, w0: float, w1: float) -> Knots:
    """Night trips of the fishing fleet for the local nights touching [w0, w1)."""
    n = len(bg.fishing_vid)
    if n == 0:
        return Knots.empty()
    parts: list[Knots] = []
    home = bg.home
    pad_on = ~bg.port_off
    for t_pad in (w0 - 3 * 86400, w1 + 3 * 86400):
        parts.append(Knots.of(bg.fishing_vid, t_pad, home[:, 0], home[:, 1], MOORED, pad_on))
    speed = bg.fleet.speed_kn[bg.fishing_vid]
    for night, rng in sorted(rng_for_night.items()):
        m0 = local_midnight_utc(night, tz_offset_h)
        active = rng.random(n) < 0.8
        g = rng.integers(0, 4, n)
        gl, go, gr = (bg.grounds[np.arange(n), g, c] for c in range(3))
        dep = m0 + rng.uniform(15.5, 19.0, n) * H
        ret = m0 + 24 * H + rng.uniform(3.5, 6.0, n) * H
        transit = geo.haversine_m(home[:, 0], home[:, 1], gl, go) / (speed * 0.514444)
        arr_g = dep + transit
        ret_home = ret + transit
        mode = rng.choice(3, n, p=[0.45, 0.3, 0.25])  # trawl, drift, lights
        dark = rng.random(n) < 0.05  # AIS switched off while fishing (not smuggling)
        K = 14
        rad = np.where(mode == 2, np.minimum(gr, 150.0), gr)
        cen_l, cen_o = gl, go
        if (mode == 2).any():  # lights: a fixed spot inside the ground
            sl, so = geo.destination_point(gl, go, rng.uniform(0, 360, n),
                                           np.sqrt(rng.random(n)) * np.maximum(gr - 150.0, 0))
            cen_l, cen_o = np.where(mode == 2, sl, gl), np.where(mode == 2, so, go)
        spd = np.select([mode == 0, mode == 1], [rng.uniform(2.5, 4.0, n),
                                                 rng.uniform(0.3, 1.2, n)], rng.uniform(0, 0.4, n))
        dt = np.maximum(ret - arr_g, 600.0) / (K + 2)
        plat, plon = [cen_l], [cen_o]
        for _ in range(K):  # legs, vectorised over vessels
            ql, qo = geo.destination_point(cen_l, cen_o, rng.uniform(0, 360, n),
                                           np.sqrt(rng.random(n)) * rad)
            dist = geo.haversine_m(plat[-1], plon[-1], ql, qo)
            f = np.minimum(1.0, spd * 0.514444 * dt / np.maximum(dist, 1.0))
            plat.append(plat[-1] + f * (ql - plat[-1]))
            plon.append(plon[-1] + f * (qo - plon[-1]))
        # ground centre -> activity legs -> centre -> home
        act_t = arr_g[:, None] + dt[:, None] * np.arange(1, K + 2)[None, :]
        t = np.column_stack([dep, arr_g, act_t, ret, ret_home])
        la = np.column_stack([home[:, 0], gl, np.column_stack(plat), gl, home[:, 0]])
        lo = np.column_stack([home[:, 1], go, np.column_stack(plon), go, home[:, 1]])
        # legs: transit out, ground centre->start spot, K activity legs, back to centre, home
        nk = t.shape[1]
        st = np.full((n, nk), FISHING, dtype=np.int8)
        st[:, 0] = UNDER_WAY
        st[:, -3:-1] = UNDER_WAY
        st[:, -1] = MOORED
        on = np.ones((n, nk), dtype=bool)
        on[:, 1:-3] = ~dark[:, None]
        on[:, -1] = pad_on
        # the first activity point equals the ground centre (or lights spot); drop duplicates
        sel = active
        if sel.any():
            vid = np.repeat(bg.fishing_vid[sel], nk)
            parts.append(Knots.of(vid, t[sel].ravel(), la[sel].ravel(), lo[sel].ravel(),
                                  st[sel].ravel(), on[sel].ravel()))
    return Knots.concat(parts)


def merchant_knots(bg: Background, w0: float, w1: float) -> Knots:
    """Cyclic plans of the merchant kinds over the window."""
    return expand_cyclic(bg.tpl, bg.period, bg.phase, w0, w1)


def nights_for_window(day: date, tz_offset_h: float) -> list[date]:
    """Local nights whose trips can touch UTC ``day``."""
    return [day + timedelta(days=k) for k in (-2, -1, 0, 1)]
