"""``vessel-risk demo``: the product on embedded defaults, stage by stage, on shipped samples.

It calls the same functions as the stage commands and the DAGs; nothing here is logic of its
own. It runs again in place without duplicating anything (every stage is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.ingest.ais import IngestSummary, ingest_ais
from pipeline.ingest.csv_ais import layout_from_mapping
from pipeline.ingest.port_calls import ingest_port_calls
from pipeline.lake import Lake
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


@dataclass
class DemoResult:
    workspace: Workspace
    stages: dict[str, IngestSummary]

    def as_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.workspace.home),
            "stages": {k: v.as_dict() for k, v in self.stages.items()},
        }


def run_demo(settings: Settings, workspace: Workspace) -> DemoResult:
    """Ingest the shipped real samples into ``workspace`` and return the stage summaries."""
    lake = Lake(workspace.lake)
    layouts = tuple(
        layout_from_mapping(name, dict(m)) for name, m in settings.ingest.csv_mappings.items()
    )
    stages = {
        "ingest ais": ingest_ais(
            [SAMPLES / p for p in AIS_SAMPLES], lake,
            tolerance_h=settings.ingest.future_timestamp_tolerance_h, layouts=layouts,
        ),
        "ingest port-calls": ingest_port_calls(
            [SAMPLES / p for p in PORT_CALL_SAMPLES], lake, settings.resolve_port_call
        ),
    }
    return DemoResult(workspace, stages)
