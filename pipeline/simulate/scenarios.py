"""Smuggling scenarios hidden in the traffic, each with a phase timeline for the ground truth.

The patterns follow the public reporting collected in ../shared/data/zones (notes file):

- ``mother_ship``: a boat waits off a departure point while small boats bring people out,
  then leaves with AIS off for long stretches toward a destination and may reappear under
  a new name or MMSI. Near a beach (south coast of Java) a ~30 t boat waits ~1 km out and
  is loaded by outriggers before dawn (~04:00 local); where the configured holding area lies
  offshore (Bay of Bengal: 12-50 nm SW of St Martin's Island) a larger boat waits 2-4 weeks
  while shuttles come out at night (a few shuttles carry Class B AIS; most carry none and
  are not simulated).
- ``direct_departure``: a small fishing boat loiters off a departure beach at night, heads
  out toward the destination and goes dark.
- ``transfer_at_sea``: a fishing boat meets a larger vessel well away from port at night.
- ``identity_manipulation``: a direct departure sent under someone else's MMSI (two
  vessels, one MMSI), under a placeholder/invalid MMSI, or with a name change after a gap.

The scenario rate follows the region's monthly season (``simulate.season_by_month``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import geo
from pipeline.config import Region, Zone
from pipeline.simulate.identities import Fleet, make_fleet, make_mmsis, rename
from pipeline.simulate.seamap import SeaMap
from pipeline.simulate.tracks import (
    AT_ANCHOR,
    F64,
    FISHING,
    MOORED,
    UNDEFINED,
    UNDER_WAY,
    Knots,
    leg_times,
)
from pipeline.simulate.traffic import local_midnight_utc

H = 3600.0
DAY = 86400.0
SCENARIO_WEIGHTS = {
    "mother_ship": 0.35, "direct_departure": 0.3, "transfer_at_sea": 0.2,
    "identity_manipulation": 0.15,
}
INVALID_MMSIS = [123456789, 111111111, 999999999, 0, 12345678, 970123456, 100200300]


@dataclass
class Phase:
    vid: int
    scenario: str
    phase: str
    start: float
    end: float


@dataclass
class Scenario:
    id: int
    kind: str
    vids: list[int]
    departure: Zone
    destination: Zone
    voyage_vid: int  # the vessel whose voyage an incident report would describe
    arrival: float
    variant: str = ""


@dataclass
class ScenarioSet:
    fleet: Fleet
    knots: Knots
    phases: list[Phase] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)


class _Track:
    """Knots of one hull being built leg by leg (a handful per scenario: plain lists)."""

    def __init__(self, t: float, lat: float, lon: float, status: int = UNDER_WAY) -> None:
        self.t, self.lat, self.lon = [t], [lat], [lon]
        self.st: list[int] = [status]
        self.toggles: list[tuple[float, bool]] = []

    @property
    def now(self) -> float:
        return self.t[-1]

    def add(self, t: float, lat: float, lon: float, status: int) -> None:
        if t <= self.t[-1]:
            t = self.t[-1] + 1.0
        self.t.append(t)
        self.lat.append(lat)
        self.lon.append(lon)
        self.st.append(status)

    def status_from_here(self, status: int) -> None:
        self.st[-1] = status

    def go(self, lat: F64, lon: F64, speed_kn: float, status: int = UNDER_WAY) -> None:
        """Sail through waypoints (the first is the current position)."""
        self.st[-1] = status
        tt = self.now + np.cumsum(leg_times(lat, lon, speed_kn))
        for k in range(1, len(lat)):
            self.add(float(tt[k - 1]), float(lat[k]), float(lon[k]), status)

    def stay(self, until: float, status: int) -> None:
        self.st[-1] = status
        self.add(until, self.lat[-1], self.lon[-1], status)

    def drift(self, rng: np.random.Generator, until: float, lat: float, lon: float,
              radius_m: float, step_s: float, status: int) -> None:
        """Slow random wandering inside a disc at sea (waiting, loitering)."""
        self.st[-1] = status
        n = max(int((until - self.now) / step_s), 1)
        pl, po = geo.destination_point(lat, lon, rng.uniform(0, 360, n),
                                       np.sqrt(rng.random(n)) * radius_m)
        ts = np.linspace(self.now, until, n + 1)[1:]
        for k in range(n):
            self.add(float(ts[k]), float(pl[k]), float(po[k]), status)

    def dark(self, t: float) -> None:
        self.toggles.append((t, False))

    def light(self, t: float) -> None:
        self.toggles.append((t, True))

    def knots(self, vid: int, on0: bool = True) -> Knots:
        t, la, lo, st = (np.asarray(x, float) for x in (self.t, self.lat, self.lon, self.st))
        for tx, _ in self.toggles:  # insert knots where AIS switches
            if t[0] < tx < t[-1] and not np.any(t == tx):
                k = int(np.searchsorted(t, tx))
                f = (tx - t[k - 1]) / (t[k] - t[k - 1])
                t = np.insert(t, k, tx)
                la = np.insert(la, k, la[k - 1] + f * (la[k] - la[k - 1]))
                lo = np.insert(lo, k, lo[k - 1] + f * (lo[k] - lo[k - 1]))
                st = np.insert(st, k, st[k - 1])
        on = np.full(len(t), on0)
        for tx, val in sorted(self.toggles):
            on[t >= tx] = val
        return Knots.of(vid, t, la, lo, st.astype(np.int8), on)


def season_factor(region: Region, month: int, table: dict[str, list[float]]) -> float:
    vals = table.get(region.id)
    return float(vals[month - 1]) if vals else 1.0


def _sea(sm: SeaMap, z: Zone, min_km: float = 0.5) -> tuple[float, float] | None:
    return sm.sea_point_near(*z.centre, min_km=min_km, max_km=40)


def _offshore_point(rng: np.random.Generator, sm: SeaMap, lat: float, lon: float,
                    radius_km: float, min_shore_m: float) -> tuple[float, float, float] | None:
    pl, po = geo.destination_point(lat, lon, rng.uniform(0, 360, 64),
                                   np.sqrt(rng.random(64)) * radius_km * 1000)
    shore = sm.exact_shore_m(pl, po)
    ok = np.flatnonzero(shore >= min_shore_m)
    if not len(ok):
        return None
    k = int(ok[0])
    return float(pl[k]), float(po[k]), float(shore[k])


def build_scenarios(
    rng_of: Any, sm: SeaMap, region: Region, n: int, run0: float, run1: float,
    tz_h: float, mids: list[int], taken: set[int], background: Fleet,
) -> ScenarioSet:
    """``n`` scenarios overlapping [run0, run1); rng_of(i) gives scenario i's generator."""
    deps = region.departure_points
    dests = region.destinations + region.landings
    out = ScenarioSet(Fleet.concat([make_fleet(np.random.default_rng(0), "smuggler", 0, mids,
                                               set())]), Knots.empty())
    if not deps or not dests:
        return out
    fleets: list[Fleet] = []
    knots: list[Knots] = []
    vid = 0
    kinds = list(SCENARIO_WEIGHTS)
    w = np.asarray([SCENARIO_WEIGHTS[k] for k in kinds])
    for i in range(n):  # per scenario: a handful of vessels each
        rng = rng_of(i)
        kind = kinds[int(rng.choice(len(kinds), p=w / w.sum()))]
        built = None
        for _ in range(8):
            dep = deps[int(rng.integers(len(deps)))]
            dw = np.asarray([2.0 if z.role == "destination" else 1.0 for z in dests])
            dst = dests[int(rng.choice(len(dests), p=dw / dw.sum()))]
            built = _build_one(rng, kind, i, sm, region, dep, dst, run0, run1, tz_h, mids,
                               taken, background, vid)
            if built is not None and _at_sea(sm, built[1]):
                break
            built = None
        if built is None:
            continue
        fl, kn, phases, sc = built
        fleets.append(fl)
        knots.append(kn)
        out.phases += phases
        out.scenarios.append(sc)
        vid += len(fl)
    if fleets:
        out.fleet = Fleet.concat(fleets)
        out.knots = Knots.concat(knots)
    return out


def _at_sea(sm: SeaMap, kn: Knots) -> bool:
    """Every leg of the scenario's knots keeps clear of land (else the scenario is redrawn)."""
    order = np.lexsort((kn.t, kn.vid))
    k = kn.take(order)
    legs = np.flatnonzero(k.vid[:-1] == k.vid[1:])
    moving = (k.lat[legs] != k.lat[legs + 1]) | (k.lon[legs] != k.lon[legs + 1])
    legs = legs[moving]
    return bool(sm.clear(k.lat[legs], k.lon[legs], k.lat[legs + 1], k.lon[legs + 1],
                         clearance_deg=0.0005).all())


def _night(rng: np.random.Generator, t: float, tz_h: float, lo_h: float, hi_h: float) -> float:
    """A time between local ``lo_h`` and ``hi_h`` (hours, may exceed 24) on t's local day."""
    from datetime import UTC, datetime, timedelta

    local_day = (datetime.fromtimestamp(t, UTC) + timedelta(hours=tz_h)).date()
    return local_midnight_utc(local_day, tz_h) + rng.uniform(lo_h, hi_h) * H


def _build_one(
    rng: np.random.Generator, kind: str, sid: int, sm: SeaMap, region: Region, dep: Zone,
    dst: Zone, run0: float, run1: float, tz_h: float, mids: list[int], taken: set[int],
    background: Fleet, vid0: int,
) -> tuple[Fleet, Knots, list[Phase], Scenario] | None:
    beach = _sea(sm, dep, 0.5)
    target = _sea(sm, dst, 1.0)
    if beach is None or target is None:
        return None
    route = sm.route(beach[0], beach[1], target[0], target[1])
    if route is None:
        return None
    phases: list[Phase] = []
    tracks: list[tuple[_Track, bool]] = []
    craft = make_fleet(rng, "smuggler", 1, mids, taken)
    spd = float(craft.speed_kn[0])
    voyage_s = float(np.sum(leg_times(route[0], route[1], spd)))

    def ph(v: int, name: str, a: float, b: float) -> None:
        phases.append(Phase(vid0 + v, kind, name, a, b))

    variant = ""
    if kind == "mother_ship":
        def km_from_dep(z: Zone) -> float:
            return float(geo.haversine_m(z.centre[0], z.centre[1], dep.centre[0], dep.centre[1]))

        hold = [z for z in region.holding_areas if km_from_dep(z) < 150_000]
        hz = min(hold, key=km_from_dep) if hold else None
        offshore = None
        if hz is not None and (hz.radius_km or 0) >= 20:
            offshore = _offshore_point(rng, sm, *hz.centre, hz.radius_km or 20, 22_000)
        if offshore is not None:
            variant = "offshore_waiting"
            hl, ho, _ = offshore
            craft.length_m[:] = np.round(rng.uniform(20, 35))
            wait = rng.uniform(14, 30) * DAY
            td = _night(rng, rng.uniform(run0, run1 + 0.8 * wait), tz_h, 20, 27)
            ta = td - wait
            r_in = sm.route(beach[0], beach[1], hl, ho)
            r_out = sm.route(hl, ho, target[0], target[1])
            if r_in is None or r_out is None:
                return None
            t_in = float(np.sum(leg_times(r_in[0], r_in[1], spd)))
            tr = _Track(ta - t_in, beach[0], beach[1])
            tr.go(r_in[0], r_in[1], spd)
            ph(0, "transit_to_holding", ta - t_in, ta)
            tr.drift(rng, td, hl, ho, 2000, rng.uniform(1.5, 3) * H, AT_ANCHOR)
            ph(0, "waiting", ta, td)
            # shuttles with Class B AIS (most shuttles carry none): night trips to the ship
            n_sh = int(rng.integers(0, 3))
            for s in range(n_sh):
                sh = _Track(ta, beach[0], beach[1], MOORED)
                shs = 6.0 + rng.uniform(0, 3)
                t_sh = float(np.sum(leg_times(r_in[0], r_in[1], shs)))
                for night in np.arange(ta, td, DAY):
                    if rng.random() < 0.5:
                        continue
                    t0 = _night(rng, float(night), tz_h, 20, 24)
                    if t0 + 2 * t_sh + 2 * H > td or t0 < sh.now:
                        continue
                    sh.stay(t0, MOORED)
                    sh.go(r_in[0], r_in[1], shs)
                    sh.stay(sh.now + rng.uniform(0.5, 1.5) * H, UNDER_WAY)
                    sh.go(r_in[0][::-1], r_in[1][::-1], shs)
                    sh.status_from_here(MOORED)
                    ph(1 + s, "shuttle", t0, sh.now)
                sh.stay(td + DAY, MOORED)
                tracks.append((sh, True))
            route = r_out
            ph(0, "loading", td - 3 * H, td)
        else:
            variant = "beach_loading"
            # ~1 km off the beach (or the configured holding point when it is that close)
            near = hz is not None and km_from_dep(hz) < 15_000
            hp = _sea(sm, hz, 0.5) if near and hz is not None else None
            if hp is None or not sm.clear(beach[0], beach[1], hp[0], hp[1])[0]:
                op = _offshore_point(rng, sm, beach[0], beach[1], 1.5, 700.0)
                hp = (op[0], op[1]) if op and sm.clear(beach[0], beach[1], op[0], op[1])[0] \
                    else beach
            hl, ho = hp
            r_out = sm.route(hl, ho, target[0], target[1])
            if r_out is None:
                return None
            # loaded by outriggers before dawn (~04:00 local), leaves around 04:00-05:00
            td = _night(rng, rng.uniform(run0 - 0.3 * voyage_s, run1 + DAY), tz_h, 28.0, 29.0)
            ta = td - rng.uniform(5, 7) * H
            tr = _Track(ta - 3 * H, beach[0], beach[1], MOORED)
            tr.stay(ta - 1 * H, MOORED)
            tr.go(np.array([beach[0], hl]), np.array([beach[1], ho]), 5.0)
            t_at = tr.now
            ph(0, "transit_to_holding", ta - H, t_at)
            tr.drift(rng, td, hl, ho, 150, 1200, UNDEFINED)
            ph(0, "waiting", t_at, td - 1.5 * H)
            ph(0, "loading", td - 1.5 * H, td)
            route = r_out
        tracks.insert(0, (tr, True))
        t_dep = tr.now
        tr.go(route[0], route[1], spd)
        t_arr = tr.now
        t_dark = t_dep + rng.uniform(1, 6) * H
        ph(0, "departure", t_dep, min(t_dark, t_arr))
        tr.dark(t_dark)
    else:
        # direct departure (and identity manipulation, which behaves the same)
        t_loiter = _night(rng, rng.uniform(run0 - 0.5 * voyage_s, run1 + 0.5 * DAY), tz_h,
                          19, 22.5)
        lp = _offshore_point(rng, sm, beach[0], beach[1], 4.0, 1200.0)
        if lp is None:
            lp = (beach[0], beach[1], 600.0)
        ll, lo_, shore = lp
        if not sm.clear(beach[0], beach[1], ll, lo_)[0]:
            ll, lo_, shore = beach[0], beach[1], 600.0
        r_out = sm.route(ll, lo_, target[0], target[1])
        if r_out is None:
            return None
        if kind == "transfer_at_sea":
            return _transfer(rng, sid, sm, region, dep, dst, beach, run0, run1, tz_h, mids,
                             taken, vid0, craft)
        tr = _Track(t_loiter - rng.uniform(6, 14) * H, beach[0], beach[1], MOORED)
        tr.stay(t_loiter - 0.3 * H, MOORED)
        tr.go(np.array([beach[0], ll]), np.array([beach[1], lo_]), 5.0, UNDER_WAY)
        t_dep = _night(rng, t_loiter, tz_h, 24.0, 27.5)
        tr.drift(rng, max(t_dep, tr.now + 2 * H), ll, lo_, max(min(500.0, shore - 700.0), 0.0),
                 900, FISHING)
        ph(0, "loiter", t_loiter, tr.now)
        t_dep = tr.now
        tr.go(r_out[0], r_out[1], spd)
        t_arr = tr.now
        dist_on = rng.uniform(5_000, 40_000)
        t_dark = t_dep + dist_on / (spd * 0.514444)
        ph(0, "departure", t_dep, min(t_dark, t_arr))
        tr.dark(t_dark)
        tracks.insert(0, (tr, True))
        if kind == "identity_manipulation":
            variant = str(rng.choice(["shared_mmsi", "invalid_mmsi", "name_change"]))
    # dark leg, optional reappearance under a new identity
    n_tr = len(tracks)  # the main hull, then shuttles
    main = tracks[0][0]
    extra: list[Fleet] = []
    reappear = (kind != "identity_manipulation" and rng.random() < 0.35) or variant == "name_change"
    t_re = t_arr - rng.uniform(2, 8) * H
    second: Knots | None = None
    if reappear and t_re > t_dark + H:
        ph(0, "dark", t_dark, t_re)
        new = craft.take([0])
        new.name[0] = rename(rng, str(new.name[0]))
        if variant != "name_change" or rng.random() < 0.5:
            new.mmsi[:] = make_mmsis(rng, mids, 1, taken)
        ph(n_tr, "reappeared", t_re, t_arr)
        ph(n_tr, "arrival", t_arr, t_arr + H)
        first, second = _split(main.knots(vid0), t_re)
        second.on[:] = True
        second.vid[:] = vid0 + n_tr
        extra.append(new)
    else:
        if t_dark < t_arr:
            ph(0, "dark", t_dark, t_arr)
        ph(0, "arrival", t_arr, t_arr + H)
        first = main.knots(vid0)
    if variant == "shared_mmsi" and len(background):
        fish = np.flatnonzero(background.kind == "fishing")
        pool = fish if len(fish) else np.arange(len(background))
        twin = int(pool[int(rng.integers(len(pool)))])
        craft.mmsi[0] = background.mmsi[twin]
        if rng.random() < 0.5:
            craft.name[0] = background.name[twin]
    elif variant == "invalid_mmsi":
        craft.mmsi[0] = int(rng.choice(INVALID_MMSIS))
    all_fleet = [craft] + [_shuttle_fleet(rng, mids, taken) for _ in tracks[1:]] + extra
    kn = [first] + [t_s.knots(vid0 + s) for s, (t_s, _) in enumerate(tracks[1:], start=1)]
    if second is not None:
        kn.append(second)
    fl = Fleet.concat(all_fleet)
    sc = Scenario(sid, kind, list(range(vid0, vid0 + len(fl))), dep, dst, vid0, t_arr, variant)
    return fl, Knots.concat(kn), phases, sc


def _split(k: Knots, tx: float) -> tuple[Knots, Knots]:
    """Cut a track at ``tx`` (a knot is interpolated there in both halves)."""
    t = k.t
    j = int(np.searchsorted(t, tx))
    j = min(max(j, 1), len(t) - 1)
    f = (tx - t[j - 1]) / max(t[j] - t[j - 1], 1e-9)
    la = k.lat[j - 1] + f * (k.lat[j] - k.lat[j - 1])
    lo = k.lon[j - 1] + f * (k.lon[j] - k.lon[j - 1])
    mid = Knots.of(k.vid[0], tx, la, lo, k.status[j - 1], k.on[j - 1])
    a = Knots.concat([k.take(np.arange(j)), mid])
    a.on[-1] = False
    b = Knots.concat([mid, k.take(np.arange(j, len(t)))])
    return a, b


def _shuttle_fleet(rng: np.random.Generator, mids: list[int], taken: set[int]) -> Fleet:
    f = make_fleet(rng, "smuggler", 1, mids, taken)
    f.cls[:] = "B"
    f.length_m[:] = np.round(rng.uniform(8, 14))
    f.width_m[:] = np.round(f.length_m / 4)
    f.imo[:] = 0
    f.has_heading[:] = False
    return f


def _transfer(rng: np.random.Generator, sid: int, sm: SeaMap, region: Region, dep: Zone,
              dst: Zone, beach: tuple[float, float], run0: float, run1: float, tz_h: float,
              mids: list[int], taken: set[int], vid0: int, craft: Fleet
              ) -> tuple[Fleet, Knots, list[Phase], Scenario] | None:
    """A fishing boat meets a larger vessel offshore at night; the larger one sails on."""
    p = None
    for _ in range(4):
        p = _offshore_point(rng, sm, beach[0], beach[1], 110.0, 30_000.0)
        if p is not None and geo.haversine_m(beach[0], beach[1], p[0], p[1]) > 30_000:
            break
    if p is None:
        return None
    rl, ro, _ = p
    r_f = sm.route(beach[0], beach[1], rl, ro)
    target = _sea(sm, dst, 1.0)
    if r_f is None or target is None:
        return None
    r_on = sm.route(rl, ro, target[0], target[1])
    origins = [h for h in sm.harbours + sm.gateways if h.component >= 0]
    if r_on is None or not origins:
        return None
    o = origins[int(rng.integers(len(origins)))]
    r_c = sm.route(o.lat, o.lon, rl, ro)
    if r_c is None:
        return None
    big = make_fleet(rng, "carrier", 1, mids, taken)
    fs, cs = float(craft.speed_kn[0]), float(big.speed_kn[0])
    t_meet = _night(rng, rng.uniform(run0, run1), tz_h, 22, 26)
    dur = rng.uniform(40, 120) * 60
    f_tr = _Track(t_meet - float(np.sum(leg_times(r_f[0], r_f[1], fs))), beach[0], beach[1])
    c_tr = _Track(t_meet - float(np.sum(leg_times(r_c[0], r_c[1], cs))), o.lat, o.lon)
    f_tr.go(r_f[0], r_f[1], fs)
    c_tr.go(r_c[0], r_c[1], cs)
    # alongside: drift together, ~80 m apart
    b = rng.uniform(0, 360)
    d_l, d_o = geo.destination_point(rl, ro, b, 0.4 * 0.514444 * dur)
    f_tr.stay(t_meet, UNDER_WAY)
    c_tr.stay(t_meet, UNDER_WAY)
    c_tr.go(np.array([rl, float(d_l)]), np.array([ro, float(d_o)]), 0.4, UNDEFINED)
    ol, oo = geo.destination_point(float(d_l), float(d_o), b + 90, 80.0)
    f_tr.go(np.array([rl, float(ol)]), np.array([ro, float(oo)]), 0.4, UNDEFINED)
    t_sep = max(f_tr.now, c_tr.now)
    f_back = sm.route(float(ol), float(oo), beach[0], beach[1])
    c_on = sm.route(float(d_l), float(d_o), target[0], target[1])
    if f_back is None or c_on is None:
        return None
    f_tr.stay(t_sep, UNDER_WAY)
    c_tr.stay(t_sep, UNDER_WAY)
    f_tr.go(f_back[0], f_back[1], fs)
    f_tr.status_from_here(MOORED)
    f_tr.stay(f_tr.now + 6 * H, MOORED)
    c_tr.go(c_on[0], c_on[1], cs)
    t_dark = t_sep + rng.uniform(1, 4) * H
    goes_dark = rng.random() < 0.6
    if goes_dark:
        c_tr.dark(t_dark)
    phases = [
        Phase(vid0, "transfer_at_sea", "approach", f_tr.t[0], t_meet),
        Phase(vid0 + 1, "transfer_at_sea", "approach", c_tr.t[0], t_meet),
        Phase(vid0, "transfer_at_sea", "rendezvous", t_meet, t_sep),
        Phase(vid0 + 1, "transfer_at_sea", "rendezvous", t_meet, t_sep),
        Phase(vid0, "transfer_at_sea", "return", t_sep, f_tr.now),
        Phase(vid0 + 1, "transfer_at_sea", "onward", t_sep, c_tr.now),
    ]
    if goes_dark:
        phases.append(Phase(vid0 + 1, "transfer_at_sea", "dark", t_dark, c_tr.now))
    craft.cls[:] = "B"
    craft.imo[:] = 0
    fl = Fleet.concat([craft, big])
    kn = Knots.concat([f_tr.knots(vid0), c_tr.knots(vid0 + 1)])
    sc = Scenario(sid, "transfer_at_sea", [vid0, vid0 + 1], dep, dst, vid0 + 1, c_tr.now)
    return fl, kn, phases, sc
