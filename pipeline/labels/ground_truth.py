"""Simulator ground truth as label rows: for the shipped baseline model and for evaluation only.

``ground_truth/vessel_days.csv`` (written by ``vessel-risk simulate``) says for every
simulated vessel-day whether the vessel took part in a smuggling scenario. No PIU has such a
table: these labels train the baseline model that ships before any real label exists, and
they measure models on simulated data. Each row names the file it came from (provenance).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa

from pipeline.errors import UserError
from pipeline.labels.build import LABELS, SOURCE_SIMULATOR

REQUIRED = ("mmsi", "date", "label")


def read_ground_truth(paths: Iterable[str | Path]) -> pa.Table:
    """``LABELS`` rows from simulator ``vessel_days.csv`` files (one row per vessel-day)."""
    parts = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            path = path / "ground_truth" / "vessel_days.csv"
        try:
            frame = pd.read_csv(path, dtype={"scenario": str}, keep_default_na=False)
        except FileNotFoundError:
            raise UserError(f"{path}: no simulator ground truth there (expected the "
                            f"ground_truth/vessel_days.csv written by `vessel-risk simulate`)"
                            ) from None
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise UserError(f"{path}: missing column(s) {missing}; not a vessel_days.csv")
        day = pd.to_datetime(frame["date"], format="%Y-%m-%d").dt.date
        scenario = frame["scenario"] if "scenario" in frame.columns else ""
        parts.append(pd.DataFrame({
            "mmsi": frame["mmsi"].astype("int64"),
            "date": day,
            "label": frame["label"].astype("int8"),
            "weight": 1.0,
            "source": SOURCE_SIMULATOR,
            "known_from": day,  # the simulator knows at once; a PIU never does
            "provenance": (f"{path.parent.parent.name}/ground_truth/vessel_days.csv"
                           + ("" if isinstance(scenario, str) else
                              (" scenario " + scenario).where(scenario != "", ""))),
        }))
    if not parts:
        return LABELS.empty_table()
    out = pd.concat(parts, ignore_index=True)
    return pa.Table.from_pandas(out[[f.name for f in LABELS]], schema=LABELS,
                                preserve_index=False)
