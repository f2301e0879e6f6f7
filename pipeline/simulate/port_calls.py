"""Port-call records as a port authority would file them, from the simulated berth visits.

Format: the project's port-call CSV (mmsi, imo, name, call_sign, flag, port, arrival_time,
departure_time, previous_port, next_port, persons_on_board; times ISO 8601 UTC with Z).
Realism: a share of calls is never filed (``port_call_omission_rate``); another share
disagrees with AIS (``port_call_mismatch_rate``): arrival hours off, a name spelled
differently, an MMSI with a typo, the IMO missing, the port given by name. A call still in
progress at the end of the run has no departure time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Settings, SimulateSettings
from pipeline.simulate.ground_truth import iso
from pipeline.simulate.identities import Fleet
from pipeline.simulate.traffic import Background

COLUMNS = [
    "mmsi", "imo", "name", "call_sign", "flag", "port", "arrival_time", "departure_time",
    "previous_port", "next_port", "persons_on_board",
]


def write_port_calls(path: Path, bg: Background, fleet: Fleet, settings: Settings,
                     cfg: SimulateSettings, rng: np.random.Generator, run0: float,
                     run1: float) -> int:
    """Write the calls whose arrival lies in [run0, run1); returns the number of rows."""
    rows = []
    by_vid: dict[int, list[tuple[float, float, str]]] = {}
    for c in bg.calls:
        P, ph = bg.period[c.vid], bg.phase[c.vid]
        k0 = int(np.floor((run0 - ph - c.t_arr) / P))
        for k in range(k0, k0 + int((run1 - run0) / P) + 3):
            ta = ph + k * P + c.t_arr
            if run0 <= ta < run1:
                port = c.harbour.locode or c.harbour.name
                by_vid.setdefault(c.vid, []).append((ta, ph + k * P + c.t_dep, port))
    for vid, calls in sorted(by_vid.items()):
        calls.sort()
        for j, (ta, td, port) in enumerate(calls):
            if rng.random() < cfg.port_call_omission_rate:
                continue
            if settings.resolve_port_call(port) is None:
                continue
            mmsi = int(fleet.mmsi[vid])
            flag = settings.flag_of_mmsi(mmsi)
            kind = str(fleet.kind[vid])
            pob = int(rng.integers(12, 28)) if kind != "ferry" else int(rng.integers(40, 600))
            row = {
                "mmsi": str(mmsi), "imo": str(fleet.imo[vid]) if fleet.imo[vid] else "",
                "name": str(fleet.name[vid]), "call_sign": str(fleet.call_sign[vid]),
                "flag": (flag[1] or "") if flag else "", "port": port,
                "arrival_time": iso(ta), "departure_time": iso(td) if td < run1 else "",
                "previous_port": calls[j - 1][2] if j > 0 else "",
                "next_port": calls[j + 1][2] if j + 1 < len(calls) else "",
                "persons_on_board": str(pob) if rng.random() < 0.8 else "",
            }
            if rng.random() < cfg.port_call_mismatch_rate:
                what = int(rng.integers(0, 5))
                if what == 0:
                    row["arrival_time"] = iso(ta + float(rng.uniform(-6, 6)) * 3600)
                    if row["departure_time"] and row["arrival_time"] > row["departure_time"]:
                        row["arrival_time"] = iso(ta)
                elif what == 1:
                    row["name"] = row["name"].replace(" ", "", 1)
                elif what == 2:
                    s = list(row["mmsi"])
                    s[-1] = str((int(s[-1]) + 1) % 10)
                    row["mmsi"] = "".join(s)
                elif what == 3:
                    row["imo"] = ""
                else:
                    p = settings.resolve_port(port)
                    if p is not None and settings.resolve_port(p.name) is p:
                        row["port"] = p.name
            rows.append(row)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False)
    return len(rows)
