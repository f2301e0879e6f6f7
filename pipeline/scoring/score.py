"""``vessel-risk score --date D``: features (+ events for the reasons) → ``lake/scores``.

Until a model is promoted (the model lifecycle, issue 5) the rule baseline scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.config import Settings
from pipeline.lake import Lake
from pipeline.schemas import SCORES
from pipeline.scoring.rules import reasons, rule_scores, rules_model_id


@dataclass
class ScoreSummary:
    day: date
    model_id: str
    vessels: int
    seconds: float
    top: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "model_id": self.model_id,
                "vessels": self.vessels, "seconds": round(self.seconds, 3), "top": self.top}


def score_features(features: pa.Table, events: pa.Table, settings: Settings, day: date
                   ) -> pa.Table:
    """Scores, ranks and reasons of one day's feature rows."""
    if features.num_rows == 0:
        return SCORES.empty_table()
    f = features.to_pandas()
    scored = rule_scores(f, settings.scoring)
    codes, text = reasons(f, scored.contributions, events.to_pandas(), settings)
    order = np.lexsort((f["mmsi"].to_numpy(), -scored.score))
    rank = np.empty(len(f), dtype=np.int64)
    rank[order] = np.arange(1, len(f) + 1)
    return pa.table({
        "mmsi": pa.array(f["mmsi"].to_numpy(), pa.int64()),
        "date": pa.array([day] * len(f), pa.date32()),
        "score": pa.array(np.round(scored.score, 6), pa.float64()),
        "rank": pa.array(rank, pa.int64()),
        "model_id": pa.array([rules_model_id(settings.scoring)] * len(f), pa.string()),
        "region": pa.array(f["region"].astype(object).where(f["region"].notna(), None),
                           pa.string()),
        "reason_codes": pa.array(codes, pa.list_(pa.string())),
        "reasons": pa.array(text, pa.list_(pa.string())),
    }, schema=SCORES)


def score_day(lake: Lake, settings: Settings, day: date, top_n: int = 10) -> ScoreSummary:
    """Score the day's vessels and replace its scores partition atomically."""
    t0 = time.perf_counter()
    features = lake.read("features", day)
    table = score_features(features, lake.read("events", day), settings, day)
    lake.write_partition("scores", day, table)
    top = table.sort_by([("rank", "ascending")]).slice(0, top_n).to_pylist()
    names = dict(zip(features.column("mmsi").to_pylist(), features.column("name").to_pylist(),
                     strict=True))
    for row in top:
        row["date"] = row["date"].isoformat()
        row["name"] = names.get(row["mmsi"])
    model_id = rules_model_id(settings.scoring)
    return ScoreSummary(day, model_id, table.num_rows, time.perf_counter() - t0, top)
