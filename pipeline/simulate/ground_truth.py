"""Ground truth: vessel-day labels and scenario phase intervals (never read by the pipeline).

``ground_truth/vessel_days.csv`` — mmsi, date (UTC), label (1 = the MMSI took part in a
smuggling scenario that day, 0 = background), scenario (empty for background). One row per
MMSI and day that has at least one position in the output, plus scenario days without any
(fully dark), so that a detector's misses are visible.
``ground_truth/events.csv`` — mmsi, scenario, phase, start, end (ISO 8601 UTC): the phase
timeline of every scenario vessel (waiting, loading, shuttle, departure, dark, reappeared …).
``ground_truth/vessels.csv`` — mmsi, name, kind, transceiver_class, scenario_id: who is who.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.simulate.identities import Fleet
from pipeline.simulate.scenarios import ScenarioSet


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_ground_truth(out: Path, fleet: Fleet, n_background: int, scen: ScenarioSet,
                       seen: set[tuple[int, date]], days: list[date]) -> dict[str, int]:
    """Write the three ground-truth files; returns row counts."""
    gt = out / "ground_truth"
    gt.mkdir(parents=True, exist_ok=True)
    labels: dict[tuple[int, date], str] = {}
    rows = []
    for p in sorted(scen.phases, key=lambda p: (p.start, p.vid, p.phase)):
        vid = n_background + p.vid
        mmsi = int(fleet.mmsi[vid])
        rows.append((mmsi, p.scenario, p.phase, iso(p.start), iso(p.end)))
        d = datetime.fromtimestamp(p.start, UTC).date()
        last = datetime.fromtimestamp(max(p.end - 1, p.start), UTC).date()
        while d <= last:
            if days[0] <= d <= days[-1]:
                labels[(mmsi, d)] = p.scenario
            d += timedelta(days=1)
    pd.DataFrame(rows, columns=["mmsi", "scenario", "phase", "start", "end"]).to_csv(
        gt / "events.csv", index=False)
    keys = sorted(set(seen) | set(labels))
    vd = pd.DataFrame({
        "mmsi": [k[0] for k in keys],
        "date": [k[1].isoformat() for k in keys],
        "label": [1 if k in labels else 0 for k in keys],
        "scenario": [labels.get(k, "") for k in keys],
    })
    vd.to_csv(gt / "vessel_days.csv", index=False)
    sid = np.full(len(fleet), -1)
    for sc in scen.scenarios:
        for v in sc.vids:
            sid[n_background + v] = sc.id
    pd.DataFrame({
        "mmsi": fleet.mmsi, "name": fleet.name, "kind": fleet.kind,
        "transceiver_class": fleet.cls, "scenario_id": sid,
    }).to_csv(gt / "vessels.csv", index=False)
    return {"vessel_days": len(vd), "events": len(rows), "labelled_vessel_days": len(labels)}
