"""``simulate``: a region's traffic for N days, with smuggling scenarios and ground truth.

Determinism: every random draw comes from a generator seeded by (seed, region, purpose …)
— the fleet per kind, each local night of fishing, each scenario, each day's reports per
vessel group — so results never depend on iteration order, and the same seed gives the same
bytes. One knob (``vessels``, or ``positions_per_day`` which sets it) scales from a test
fixture to 10 M positions a day; all per-position work is vectorised numpy.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.config import SIMULATED_KINDS, Region, Settings
from pipeline.errors import UserError
from pipeline.simulate.ground_truth import write_ground_truth
from pipeline.simulate.identities import Fleet
from pipeline.simulate.incidents import write_incidents
from pipeline.simulate.port_calls import write_port_calls
from pipeline.simulate.reception import (
    Reports,
    day_conditions,
    sample_reports,
    static_times,
)
from pipeline.simulate.scenarios import INVALID_MMSIS, build_scenarios, season_factor
from pipeline.simulate.seamap import SeaMap, seamap_for
from pipeline.simulate.tracks import Knots
from pipeline.simulate.traffic import (
    Background,
    build_background,
    fishing_knots,
    merchant_knots,
    nights_for_window,
)
from pipeline.simulate.writers import Written, write_csv, write_nmea, write_parquet

Format = Literal["csv", "nmea", "parquet"]
FORMATS = ("csv", "nmea", "parquet")
DAY = 86400.0


@dataclass
class SimulationResult:
    """What was written, for the CLI summary and the tests."""

    region: str
    start: date
    days: int
    seed: int
    format: str
    out: Path
    vessels_by_kind: dict[str, int]
    scenarios: dict[str, int]
    files: list[Written] = field(default_factory=list)
    port_calls: int = 0
    incidents: int = 0
    ground_truth: dict[str, int] = field(default_factory=dict)
    dropped_on_land: int = 0

    @property
    def positions(self) -> int:
        return sum(f.positions for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region, "start": self.start.isoformat(), "days": self.days,
            "seed": self.seed, "format": self.format, "out": str(self.out),
            "vessels_by_kind": self.vessels_by_kind, "positions": self.positions,
            "scenarios": self.scenarios, "port_calls": self.port_calls,
            "incidents": self.incidents, "ground_truth": self.ground_truth,
            "dropped_on_land": self.dropped_on_land,
            "files": [
                {"file": f.path.name, "records": f.records, "positions": f.positions,
                 "static": f.static, "duplicates": f.duplicates, "quarantined": f.quarantined}
                for f in self.files
            ],
        }


def _h(x: object) -> int:
    return zlib.crc32(str(x).encode())


class _Rngs:
    """Generators keyed by purpose: independent of the order in which they are asked for."""

    def __init__(self, seed: int, region: str) -> None:
        self.seed, self.region = seed, _h(region)

    def __call__(self, *parts: object) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.region, *(_h(p) for p in parts)])


def _kind_counts(n: int, mix: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split of ``n`` vessels over the kind mix."""
    kinds = [k for k in SIMULATED_KINDS if mix.get(k, 0) > 0]
    w = np.asarray([mix[k] for k in kinds], float)
    raw = n * w / w.sum()
    base = np.floor(raw).astype(int)
    rest = np.argsort(-(raw - base), kind="stable")[: n - int(base.sum())]
    base[rest] += 1
    return {k: int(c) for k, c in zip(kinds, base, strict=True)}


@dataclass
class World:
    """Everything that does not depend on the day: fleet, plans, scenarios."""

    region: Region
    sm: SeaMap
    tz_h: float
    bg: Background
    scen: Any
    fleet: Fleet
    n_bg: int
    faulty: np.ndarray
    groups: dict[str, np.ndarray]  # report group -> vids


def build_world(settings: Settings, region: Region, start: date, days: int, seed: int,
                vessels: int) -> World:
    cfg = settings.simulate
    rng = _Rngs(seed, region.id)
    sm = seamap_for(settings, region)
    off = region.tz.utcoffset(datetime.combine(start, datetime.min.time()))
    tz_h = off.total_seconds() / 3600 if off else 0.0
    mix = cfg.kind_mix
    n_scen_target = cfg.smuggling_fraction * vessels
    mid = start + timedelta(days=days // 2)
    n_scen = round(n_scen_target * season_factor(region, mid.month, cfg.season_by_month))
    counts = _kind_counts(max(vessels - n_scen, 1), mix)
    taken: set[int] = set()
    bg = build_background({k: rng("fleet", k) for k in (*SIMULATED_KINDS, "services")}, sm,
                          region, counts, taken, tz_h)
    run0 = datetime.combine(start, datetime.min.time(), UTC).timestamp()
    run1 = run0 + days * DAY
    scen = build_scenarios(lambda i: rng("scenario", i), sm, region, n_scen, run0, run1, tz_h,
                           region.flag_mids, taken, bg.fleet)
    n_bg = len(bg.fleet)
    fleet = Fleet.concat([bg.fleet, scen.fleet]) if len(scen.fleet) else bg.fleet
    scen.knots = scen.knots.offset(n_bg)
    # a few background units are faulty: junk MMSIs or lat 91 (quarantined at ingest)
    fr = rng("faulty")
    n_bad = max(round(cfg.invalid_vessel_fraction * n_bg), 1 if cfg.invalid_vessel_fraction else 0)
    bad = np.sort(fr.choice(n_bg, size=min(n_bad, n_bg), replace=False))
    junk = bad[fr.random(len(bad)) < 0.5]
    fleet.mmsi[junk] = np.asarray(INVALID_MMSIS)[fr.integers(0, len(INVALID_MMSIS), len(junk))]
    faulty = np.zeros(len(fleet), bool)
    faulty[np.setdiff1d(bad, junk)] = True
    groups: dict[str, np.ndarray] = {}
    for k in SIMULATED_KINDS:
        groups[k] = np.flatnonzero(fleet.kind[:n_bg] == k)
    groups["scenarios"] = np.arange(n_bg, len(fleet))
    return World(region, sm, tz_h, bg, scen, fleet, n_bg, faulty, groups)


def _day_knots(w: World, rng: _Rngs, day: date, w0: float, w1: float) -> dict[str, Knots]:
    merchant = merchant_knots(w.bg, w0, w1)
    nights = {n: rng("fishing-night", n.isoformat()) for n in nights_for_window(day, w.tz_h)}
    fishing = fishing_knots(nights, w.bg, w.tz_h, w0, w1)
    out: dict[str, Knots] = {"fishing": fishing, "scenarios": w.scen.knots}
    kind_of = w.fleet.kind[merchant.vid] if len(merchant) else np.zeros(0, object)
    for k in ("cargo", "tanker", "ferry", "tug", "anchored"):
        out[k] = merchant.take(np.flatnonzero(kind_of == k))
    return out


def simulate_day(w: World, settings: Settings, rng: _Rngs, day: date
                 ) -> tuple[Reports, np.ndarray, np.ndarray, int]:
    """One UTC day: received reports (delivery order), static (vid, t), dropped-on-land."""
    cfg = settings.simulate
    w0 = datetime.combine(day, datetime.min.time(), UTC).timestamp()
    w1 = w0 + DAY
    cond = day_conditions(rng("conditions", day.isoformat()), w.sm, w0)
    reps, svid, st = [], [], []
    for group, kn in _day_knots(w, rng, day, w0, w1).items():
        if not len(kn):
            continue
        kn = kn.sorted(w0)
        reps.append(sample_reports(kn, w.fleet, w0, w1, rng("reports", day.isoformat(), group),
                                   cfg, w.sm, cond, w.faulty))
        v, t = static_times(kn, w.fleet, w0, w1, rng("static", day.isoformat(), group), cfg,
                            w.sm, cond)
        svid.append(v)
        st.append(t)
    rep = Reports.concat(reps)
    # safety net: nothing may be written on land (counted; should stay ~0)
    land = ~rep.unavailable
    land[land] = w.sm.on_land(rep.lat[land], rep.lon[land])
    dropped = int(land.sum())
    rep = rep.take(np.flatnonzero(~land))
    order = np.lexsort((rep.vid, rep.order))
    return (rep.take(order), np.concatenate(svid) if svid else np.zeros(0, np.int64),
            np.concatenate(st) if st else np.zeros(0, np.int64), dropped)


def positions_per_vessel(settings: Settings, region: Region, start: date, seed: int) -> float:
    """Mean received positions per vessel-day, measured on a small pilot fleet."""
    w = build_world(settings, region, start, 1, seed, 300)
    rep, _, _, _ = simulate_day(w, settings, _Rngs(seed, region.id), start)
    return max(len(rep) / max(len(w.fleet), 1), 1.0)


def simulate(
    settings: Settings, region_id: str, start: date, days: int, seed: int, out: Path,
    fmt: str = "csv", vessels: int | None = None, positions_per_day: int | None = None,
    progress: Callable[[date], None] | None = None,
) -> SimulationResult:
    """Write ``days`` days of the region's simulated traffic into ``out`` (see README)."""
    if region_id not in settings.regions:
        raise UserError(
            f"--region {region_id!r}: not an active region; active: "
            f"{', '.join(settings.active_regions)} (see regions.active in config/settings.yaml)"
        )
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if days < 1:
        raise UserError(f"--days {days}: must be at least 1")
    if vessels is not None and positions_per_day is not None:
        raise UserError("give either --vessels or --positions-per-day, not both")
    region = settings.regions[region_id]
    if positions_per_day is not None:
        per = positions_per_vessel(settings, region, start, seed)
        vessels = max(round(positions_per_day / per), 1)
    n = vessels if vessels is not None else settings.simulate.vessels
    if n < 1:
        raise UserError(f"--vessels {n}: must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    w = build_world(settings, region, start, days, seed, n)
    rng = _Rngs(seed, region.id)
    res = SimulationResult(
        region=region_id, start=start, days=days, seed=seed, format=fmt, out=out,
        vessels_by_kind=dict(sorted(Counter(str(k) for k in w.fleet.kind).items())),
        scenarios=dict(sorted(Counter(s.kind for s in w.scen.scenarios).items())),
    )
    seen: set[tuple[int, date]] = set()
    day_list = [start + timedelta(days=k) for k in range(days)]
    for day in day_list:
        rep, svid, st, dropped = simulate_day(w, settings, rng, day)
        res.dropped_on_land += dropped
        path = out / f"positions_{day.isoformat()}.{fmt}"
        if fmt == "csv":
            res.files.append(write_csv(path, rep, w.fleet))
        elif fmt == "parquet":
            res.files.append(write_parquet(path, rep, w.fleet))
        else:
            res.files.append(write_nmea(path, rep, w.fleet, svid, st,
                                        rng("nmea", day.isoformat())))
        seen.update((int(m), day) for m in np.unique(w.fleet.mmsi[rep.vid]))
        if progress:
            progress(day)
    run0 = datetime.combine(start, datetime.min.time(), UTC).timestamp()
    run1 = run0 + days * DAY
    res.port_calls = write_port_calls(out / "port_calls.csv", w.bg, w.fleet, settings,
                                      settings.simulate, rng("port-calls"), run0, run1)
    res.incidents = write_incidents(out / "incidents.csv", w.scen, w.fleet, w.n_bg, region,
                                    settings.simulate.incident_report_fraction, rng("incidents"))
    res.ground_truth = write_ground_truth(out, w.fleet, w.n_bg, w.scen, seen, day_list)
    return res
