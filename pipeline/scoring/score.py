"""``vessel-risk score --date D``: features (+ events for the reasons) → ``lake/scores``.

The champion of the model registry scores when one is promoted (its model id in every row,
reasons from per-feature contributions, pipeline.scoring.explain); before that the rule
baseline does (also when the champion is refused: features or scikit-learn version differ
from the running code; the summary then says so). Every run's summary carries a drift section: the population stability index
of each feature between the champion's training window and the last ``drift_days`` days.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import Settings
from pipeline.lake import Lake
from pipeline.schemas import HISTORY_DAYS, HISTORY_FEATURES, SCORES
from pipeline.scoring import explain
from pipeline.scoring.dataset import feature_matrix
from pipeline.scoring.drift import psi
from pipeline.scoring.registry import LoadedModel, ModelRefused, load_champion
from pipeline.scoring.rules import reasons, rule_scores, rules_model_id
from pipeline.scoring.train import predict


@dataclass
class ScoreSummary:
    day: date
    model_id: str
    vessels: int
    seconds: float
    top: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)
    champion_refused: str | None = None  # why the promoted model could not score

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "model_id": self.model_id,
                "vessels": self.vessels, "seconds": round(self.seconds, 3), "top": self.top,
                "drift": self.drift, "champion_refused": self.champion_refused}


def score_features(features: pa.Table, events: pa.Table, settings: Settings, day: date,
                   champion: LoadedModel | None = None) -> pa.Table:
    """Scores, ranks and reasons of one day's feature rows (the champion's when given,
    else the rule baseline's)."""
    if features.num_rows == 0:
        return SCORES.empty_table()
    f = features.to_pandas()
    if champion is None:
        scored = rule_scores(f, settings.scoring)
        score = scored.score
        codes, text = reasons(f, scored.contributions, events.to_pandas(), settings)
        model_id = rules_model_id(settings.scoring)
    else:
        X = feature_matrix(f)
        model = champion.model
        score = predict(model, X)
        baseline = champion.metadata.get("explanation_baseline", {})
        contrib = explain.contributions(lambda x: predict(model, x), X, baseline)
        contrib = explain.evidence_only(
            contrib, X, baseline, settings.scoring.reason_departure_within_km)
        codes, text = explain.explain(contrib, f, events.to_pandas(), settings)
        model_id = champion.model_id
    order = np.lexsort((f["mmsi"].to_numpy(), -score))
    rank = np.empty(len(f), dtype=np.int64)
    rank[order] = np.arange(1, len(f) + 1)
    return pa.table({
        "mmsi": pa.array(f["mmsi"].to_numpy(), pa.int64()),
        "date": pa.array([day] * len(f), pa.date32()),
        "score": pa.array(np.round(score, 6), pa.float64()),
        "rank": pa.array(rank, pa.int64()),
        "model_id": pa.array([model_id] * len(f), pa.string()),
        "region": pa.array(f["region"].astype(object).where(f["region"].notna(), None),
                           pa.string()),
        "reason_codes": pa.array(codes, pa.list_(pa.string())),
        "reasons": pa.array(text, pa.list_(pa.string())),
    }, schema=SCORES)


def score_day(lake: Lake, settings: Settings, day: date, top_n: int = 10) -> ScoreSummary:
    """Score the day's vessels and replace its scores partition atomically. A champion the
    running code refuses (other features or scikit-learn version) does not stop the day's
    scoring: the rule baseline scores and the summary says why, loudly."""
    t0 = time.perf_counter()
    refused = None
    try:
        champion = load_champion(settings)
    except ModelRefused as exc:
        champion, refused = None, f"{exc} — the rule baseline scored instead"
    # one read of the drift window; the day's rows are its last partition
    window = lake.read("features", day - timedelta(days=settings.scoring.training.drift_days - 1),
                       day)
    features = window.filter(pc.equal(window.column("date"), pa.scalar(day, pa.date32())))
    dates = lake.dates("features")
    drift = drift_section(window, settings, day, champion, dates[0] if dates else None)
    share = len(drift.get("flagged") or []) / max(len(drift.get("features") or []), 1)
    if champion is not None and share > settings.scoring.training.drift_fallback_share:
        # a population the model never saw (another sea, another receiver network): its
        # probabilities mean nothing there, the transparent rules still do
        refused = (f"{share:.0%} of the features drifted from the champion's training data "
                   f"(PSI > {drift['threshold']}; scoring.training.drift_fallback_share "
                   f"{settings.scoring.training.drift_fallback_share:.0%}) — the rule baseline "
                   "scored instead")
        champion = None
    table = score_features(features, lake.read("events", day), settings, day, champion)
    lake.write_partition("scores", day, table)
    top = table.sort_by([("rank", "ascending")]).slice(0, top_n).to_pylist()
    names = dict(zip(features.column("mmsi").to_pylist(), features.column("name").to_pylist(),
                     strict=True))
    for row in top:
        row["date"] = row["date"].isoformat()
        row["name"] = names.get(row["mmsi"])
    model_id = champion.model_id if champion else rules_model_id(settings.scoring)
    return ScoreSummary(day, model_id, table.num_rows, time.perf_counter() - t0, top,
                        drift, refused)


def drift_section(window: pa.Table, settings: Settings, day: date,
                  champion: LoadedModel | None, history_from: date | None = None
                  ) -> dict[str, Any]:
    """PSI per feature between the champion's training window and the recent days
    (``window``: the features of the last ``drift_days`` days up to ``day``).

    ``history_from`` is the lake's first day of features: with fewer than the
    ``HISTORY_DAYS - 1`` previous days the feature stage looks back over, the history features (days seen, change against the vessel's own
    past) describe a shorter past than the training rows did, so they are listed as not
    compared instead of being flagged as drift (a fresh workspace is not a new sea)."""
    t = settings.scoring.training
    if champion is None or not champion.metadata.get("drift_reference"):
        return {"reference": None, "note": "no champion model: nothing to compare with"}
    start = day - timedelta(days=t.drift_days - 1)
    reference = champion.metadata["drift_reference"]
    history = (day - history_from).days if history_from is not None else 0
    short = history < HISTORY_DAYS - 1
    skipped = [f for f in HISTORY_FEATURES if f in reference] if short else []
    recent = window.to_pandas()
    rows = psi({k: v for k, v in reference.items() if k not in skipped},
               feature_matrix(recent), t.drift_psi_threshold) if len(recent) else []
    out = {"reference": champion.metadata.get("training", {}).get("window"),
           "recent": [start.isoformat(), day.isoformat()], "vessel_days": len(recent),
           "threshold": t.drift_psi_threshold,
           "flagged": [r["feature"] for r in rows if r["flagged"]], "features": rows}
    if skipped:
        out["not_compared"] = {
            "features": skipped,
            "why": f"the lake holds {history} of the {HISTORY_DAYS - 1} previous days "
                   "these features look back over",
        }
    return out
