"""``vessel-risk demo``: the whole product on embedded defaults, no server.

Simulates a week of south-indonesia (smuggling scenarios hidden in ordinary traffic), lands the
files where a feed would (``<home>/landing/{ais,port_calls,incidents}/``, beside the real AIS
samples shipped in the repo), then runs every stage through the functions the Airflow tasks
call (``pipeline.orchestration``): ingest each landing folder, and for each day the detect
shards and their merge, features, score (the shipped champion model), alert and report.
Nothing here is logic of its own, and it runs again in place without duplicating anything:
the simulation is reused when it is already there, landing is content-addressed, and every
stage replaces its day's outputs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.orchestration import (
    DAILY_STAGES,
    Env,
    run_detect_shard,
    run_ingest,
    run_ingest_incidents,
    run_merge_detect,
)
from pipeline.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "data"
# Real AIS shipped in the repo (see tests/data/*/ATTRIBUTION.md): a MarineCadastre day slice,
# Australian, Norwegian, Danish and satellite NMEA feeds.
AIS_SAMPLES = (
    "ais/noaa_marinecadastre_2022-01-03_slice.csv",
    "nmea/amsa_2012-01-27_mixed_slice.nmea",
    "nmea/amsa_exactearth_satellite_pghp_slice.nmea",
    "nmea/amsa_exactearth_tag_block.nmea",
    "nmea/dma_2010-06-11_stream_pghp_slice.nmea",
    "nmea/kystverket_2019-08-07_tag_blocks_slice.nm4",
)
PORT_CALL_SAMPLES = ("port_calls/sample_port_calls.csv",)


@dataclass(frozen=True)
class DemoSpec:
    """What the demo simulates and how it runs the daily stages."""

    region: str = "south-indonesia"
    start: date = date(2025, 11, 3)
    days: int = 7
    seed: int = 7
    vessels: int | None = None  # None: simulate.vessels of the settings
    shards: int = 2  # detect shards per day, run one after the other as the DAG's tasks would
    samples: bool = True  # land the real AIS samples too

    @property
    def day_list(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def name(self) -> str:
        return (f"{self.region}_{self.start.isoformat()}_{self.days}d_seed{self.seed}"
                f"_v{self.vessels or 'default'}")


@dataclass
class DemoDay:
    day: date
    positions: int
    vessels: int
    events: dict[str, int]
    alerts: int
    top_score: float | None
    report: str | None


@dataclass
class DemoResult:
    workspace: Workspace
    spec: DemoSpec
    simulation: dict[str, Any]
    ingest: dict[str, dict[str, Any]]
    days: list[DemoDay]
    stages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def last_report(self) -> str | None:
        return next((d.report for d in reversed(self.days) if d.report), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.workspace.home),
            "simulation": self.simulation,
            "ingest": self.ingest,
            "days": [{"date": d.day.isoformat(), "positions": d.positions,
                      "vessels": d.vessels, "events": d.events, "alerts": d.alerts,
                      "top_score": d.top_score, "report": d.report} for d in self.days],
            "last_report": self.last_report,
            "stages": self.stages,
            "seconds": round(self.seconds, 1),
        }


def _simulate(settings: Settings, workspace: Workspace, spec: DemoSpec) -> tuple[Path, dict[str, Any]]:
    """The simulated files (reused when a finished simulation of the same spec is there)."""
    from pipeline.simulate.engine import simulate

    out = workspace.home / "simulated" / spec.name
    others = [p.parent.name for p in sorted(out.parent.glob("*/done.json")) if p.parent != out]
    if (workspace.landing / "simulated").is_dir():  # where demos before the week landed
        others.append("an older demo's landing/simulated/")
    if others:  # its files are in the lake already: a second fleet would mix with it
        raise UserError(f"{workspace.home} holds another simulated demo ({others[0]}); run this "
                        "one with another --home, or delete that workspace first")
    marker = out / "done.json"
    if marker.is_file():
        info: dict[str, Any] = json.loads(marker.read_text())
        return out, info
    if out.exists():
        shutil.rmtree(out)
    sim = simulate(settings, spec.region, spec.start, spec.days, spec.seed, out, fmt="nmea",
                   vessels=spec.vessels)
    info = {"region": sim.region, "start": sim.start.isoformat(), "days": sim.days,
            "seed": sim.seed, "vessels_by_kind": sim.vessels_by_kind,
            "scenarios": sim.scenarios, "out": str(out)}
    marker.write_text(json.dumps(info, indent=1))
    return out, info


def land(src: Path, folder: Path) -> Path:
    """Put one file into a landing folder the way a feed should: a temporary (hidden) name,
    then a rename. An identical file already there is left alone."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / src.name
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and \
            dest.read_bytes() == src.read_bytes():
        return dest
    tmp = folder / f".{src.name}.part"
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return dest


def _day_figures(env: Env, day: date) -> tuple[int, int, dict[str, int], int, float | None]:
    import pyarrow.compute as pc

    from pipeline.alerts.queries import alerts_for_day

    lake = env.lake
    pos = lake.read("positions", day, columns=["mmsi"])
    vessels = int(pc.count_distinct(pos.column("mmsi")).as_py()) if pos.num_rows else 0
    ev = lake.read("events", day, columns=["event_type"])
    kinds: dict[str, int] = {}
    if ev.num_rows:
        vc = pc.value_counts(ev.column("event_type"))
        kinds = {str(v["values"]): int(v["counts"]) for v in vc.to_pylist()}
    scores = lake.read("scores", day, columns=["score"])
    top = float(pc.max(scores.column("score")).as_py()) if scores.num_rows else None
    return pos.num_rows, vessels, dict(sorted(kinds.items())), len(alerts_for_day(env.engine, day)), top


def _report_path(result: dict[str, Any], workspace: Workspace, day: date) -> str | None:
    """The HTML report the report stage wrote (its summary names it), else its folder."""
    for key in ("html", "html_path", "report", "path"):
        value = result.get(key)
        if isinstance(value, str) and value:
            return value
    paths = result.get("paths") or result.get("files")
    if isinstance(paths, dict):
        html = [str(v) for v in paths.values() if str(v).endswith(".html")]
        if html:
            return html[0]
    folder = workspace.report_dir(day)
    html_files = sorted(folder.glob("*.html")) if folder.is_dir() else []
    return str(html_files[0]) if html_files else (str(folder) if folder.is_dir() else None)


def run_demo(settings: Settings, workspace: Workspace, spec: DemoSpec | None = None,
             progress: Callable[[str], None] | None = None, land_only: bool = False
             ) -> DemoResult:
    """Simulate, land, ingest and run every daily stage of the week; return the figures.
    ``land_only``: stop once the files are in the landing folders (for a deployment, whose
    DAGs then ingest and process them)."""
    spec = spec or DemoSpec()
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    env = Env.load(settings, workspace)
    say(f"simulating {spec.days} days of {spec.region}")
    sim_dir, sim_info = _simulate(settings, workspace, spec)
    landing = workspace.landing
    for d in spec.day_list:
        land(sim_dir / f"positions_{d.isoformat()}.nmea", landing / "ais" / "simulated")
    land(sim_dir / "port_calls.csv", landing / "port_calls" / "simulated")
    land(sim_dir / "incidents.csv", landing / "incidents" / "simulated")
    if spec.samples and SAMPLES.is_dir():  # an installed package (the image) has no samples
        for rel in AIS_SAMPLES:
            land(SAMPLES / rel, landing / "ais" / "samples")
        for rel in PORT_CALL_SAMPLES:
            land(SAMPLES / rel, landing / "port_calls" / "samples")
    if land_only:  # a deployment's DAGs take it from here
        return DemoResult(workspace, spec, sim_info, {}, [], {}, time.perf_counter() - t0)
    ingest = {}
    for kind in ("ais", "port_calls"):
        say(f"ingest {kind}")
        ingest[kind] = run_ingest(env, kind, spec.start)
    say("ingest incidents")
    ingest["incidents"] = run_ingest_incidents(env, spec.start)
    stages: dict[str, list[dict[str, Any]]] = {"detect": []}
    days = []
    for d in spec.day_list:
        say(f"{d}: detect")
        for k in range(spec.shards):
            run_detect_shard(env, d, k, spec.shards)
        stages["detect"].append(run_merge_detect(env, d, spec.shards))
        result: dict[str, Any] = {}
        for name, fn in DAILY_STAGES:
            say(f"{d}: {name}")
            result = fn(env, d)
            stages.setdefault(name, []).append(result)
        positions, vessels, kinds, alerts, top = _day_figures(env, d)
        days.append(DemoDay(d, positions, vessels, kinds, alerts, top,
                            _report_path(result, workspace, d)))
    return DemoResult(workspace, spec, sim_info, ingest, days, stages,
                      time.perf_counter() - t0)
