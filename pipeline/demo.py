"""``vessel-risk demo``: the product on embedded defaults, stage by stage: a simulated region
plus the real samples shipped in the repo.

It calls the same functions as the stage commands and the DAGs; nothing here is logic of its
own. It runs again in place without duplicating anything (every stage is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.events.detect import DetectSummary, detect_day
from pipeline.features import FeatureSummary, features_day
from pipeline.ingest.ais import IngestSummary, ingest_ais
from pipeline.ingest.csv_ais import layout_from_mapping
from pipeline.ingest.port_calls import ingest_port_calls
from pipeline.lake import Lake
from pipeline.scoring.score import ScoreSummary, score_day
from pipeline.simulate.engine import SimulationResult, simulate
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
# The simulated week: south-indonesia traffic with smuggling scenarios hidden inside.
SIM_REGION = "south-indonesia"
SIM_START = date(2025, 11, 3)
SIM_DAYS = 3
SIM_SEED = 7


@dataclass
class DemoResult:
    workspace: Workspace
    stages: dict[str, IngestSummary]
    simulation: SimulationResult
    detected: list[DetectSummary]
    featured: list[FeatureSummary]
    scored: list[ScoreSummary]

    def as_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.workspace.home),
            "simulation": {
                "region": self.simulation.region, "start": self.simulation.start.isoformat(),
                "days": self.simulation.days, "out": str(self.simulation.out),
                "vessels_by_kind": self.simulation.vessels_by_kind,
                "scenarios": self.simulation.scenarios,
            },
            "stages": {k: v.as_dict() for k, v in self.stages.items()},
            "detect": [d.as_dict() for d in self.detected],
            "features": [f.as_dict() for f in self.featured],
            "scores": [s.as_dict() for s in self.scored],
        }


def run_demo(settings: Settings, workspace: Workspace) -> DemoResult:
    """Simulate a few days of south-indonesia into the workspace's landing area, then ingest
    them together with the shipped real samples; return the stage summaries."""
    lake = Lake(workspace.lake)
    landing = workspace.landing / "simulated" / SIM_REGION
    sim = simulate(settings, SIM_REGION, SIM_START, SIM_DAYS, SIM_SEED, landing, fmt="nmea")
    sim_days = [SIM_START + timedelta(days=i) for i in range(SIM_DAYS)]
    layouts = tuple(
        layout_from_mapping(name, dict(m)) for name, m in settings.ingest.csv_mappings.items()
    )
    ais_files = [landing / f"positions_{d.isoformat()}.nmea" for d in sim_days]
    stages = {
        "ingest ais": ingest_ais(
            [*ais_files, *(SAMPLES / p for p in AIS_SAMPLES)], lake,
            tolerance_h=settings.ingest.future_timestamp_tolerance_h, layouts=layouts,
            max_raw_chars=settings.ingest.max_raw_chars,
        ),
        "ingest port-calls": ingest_port_calls(
            [landing / "port_calls.csv", *(SAMPLES / p for p in PORT_CALL_SAMPLES)], lake,
            settings.resolve_port_call, settings.ingest.max_raw_chars,
        ),
    }
    detected = [detect_day(lake, settings, d) for d in sim_days]
    featured = [features_day(lake, settings, d) for d in sim_days]
    scored = [score_day(lake, settings, d) for d in sim_days]
    return DemoResult(workspace, stages, sim, detected, featured, scored)
