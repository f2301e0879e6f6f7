"""Train → evaluate → register: the functions behind ``vessel-risk train`` and ``evaluate``.

``train_and_register`` fits the challenger and the logistic reference on a training set,
scores a held-out set with them, the rule baseline and the current champion (the same rows
for all), and registers the challenger with its metadata, plots and model card. The held-out
set is either the time/vessel split of the training data (pipeline.scoring.dataset) or a
separate data set (another region, another simulation seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.labels.build import (
    SOURCE_DISPOSITION,
    SOURCE_INCIDENT,
    SOURCE_SIMULATOR,
    build_labels,
)
from pipeline.labels.ground_truth import read_ground_truth
from pipeline.lake import Lake
from pipeline.scoring import evaluate as ev
from pipeline.scoring import registry, train
from pipeline.scoring.dataset import (
    FEATURE_COLUMNS,
    LabelledSet,
    features_schema_version,
    join_labels,
    load_features,
    time_split,
)
from pipeline.scoring.drift import reference_histograms
from pipeline.scoring.rules import rule_scores, rules_model_id


@dataclass
class DataSpec:
    """Where vessel-days and labels come from."""

    lakes: list[Lake]
    start: date | None = None
    end: date | None = None
    regions: list[str] = field(default_factory=list)
    label_sources: list[str] = field(default_factory=list)
    ground_truth: list[Path] = field(default_factory=list)  # simulator output folders
    engine: Any = None  # alert store engine (dispositions)


def labels_for(spec: DataSpec, settings: Settings, features: pd.DataFrame) -> pa.Table:
    """The label table of the spec's sources over the features' window."""
    if features.empty:
        raise UserError("no feature rows in the requested window (run `vessel-risk features`)")
    lo, hi = features["date"].min(), features["date"].max()
    t = settings.scoring.training
    matches = dispositions = truth = None
    if SOURCE_INCIDENT in spec.label_sources:
        # an incident up to incident_days_before after the window labels days inside it
        upto = hi + timedelta(days=t.incident_days_before)
        parts = [lake.read("incident_matches", lo, upto) for lake in spec.lakes]
        matches = pa.concat_tables(parts) if parts else None
    if SOURCE_DISPOSITION in spec.label_sources and spec.engine is not None:
        try:
            from pipeline.labels.dispositions import read_dispositions
        except ImportError as exc:
            raise UserError("dispositions are not available in this version (the alert "
                            "store is missing); drop 'disposition' from the label sources"
                            ) from exc
        dispositions = read_dispositions(spec.engine, lo, hi)
    if SOURCE_SIMULATOR in spec.label_sources:
        if not spec.ground_truth:
            raise UserError("label source 'simulator' needs --ground-truth (a folder written "
                            "by `vessel-risk simulate`)")
        truth = read_ground_truth(spec.ground_truth)
    return build_labels(matches=matches, dispositions=dispositions, ground_truth=truth,
                        incident_days_before=t.incident_days_before,
                        min_match_confidence=t.min_match_confidence, start=lo, end=hi)


def labelled(spec: DataSpec, settings: Settings, as_of: date | None = None) -> LabelledSet:
    features = load_features(spec.lakes, spec.start, spec.end, spec.regions)
    labels = labels_for(spec, settings, features)
    return join_labels(features, labels, spec.label_sources, as_of,
                       settings.scoring.training.unlabelled_as_negative)


def score_all(test: LabelledSet, settings: Settings, trained: train.Trained | None,
              champion: registry.LoadedModel | None) -> dict[str, np.ndarray]:
    """Scores of every scorer on the same held-out rows."""
    X = test.X
    out: dict[str, np.ndarray] = {}
    if trained is not None:
        out["model"] = train.predict(trained.model, X)
        out["logistic"] = np.asarray(trained.reference.predict_proba(X)[:, 1])
    out["rules"] = rule_scores(test.frame, settings.scoring).score
    if champion is not None:
        out["champion"] = train.predict(champion.model, X)
    return out


def _counts(data: LabelledSet) -> dict[str, Any]:
    lo, hi = data.window
    return {**data.counts(), "window": [str(lo), str(hi)]}


@dataclass
class TrainResult:
    model_id: str
    folder: Path
    metadata: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        ev_ = self.metadata["evaluation"]
        return {"model_id": self.model_id, "folder": str(self.folder),
                "training": self.metadata["training"],
                "evaluation": {k: v for k, v in ev_.items() if k != "calibration"}}


def _champion_or_none(settings: Settings, root: Path) -> registry.LoadedModel | None:
    mid = registry.champion_id(root)
    if mid is None:
        return None
    try:
        return registry.load_model(root, mid)
    except registry.ModelRefused:
        return None  # an incompatible champion cannot be compared; promotion will say so


def evaluation_doc(test: LabelledSet, scores: dict[str, np.ndarray], k: ev.Capacity,
                   description: str, champion: registry.LoadedModel | None,
                   folder: Path | None, model: Any = None) -> dict[str, Any]:
    """Figures (and plots into ``folder``) of the scorers on one held-out set."""
    doc = ev.evaluate_scores(test.frame, scores, k)
    doc.update({"k": doc["models"][next(iter(scores))]["k"], "description": description, "counts": _counts(test),
                "data_hash": test.hash()})
    y = test.y
    probs = {n: s for n, s in scores.items() if n != "rules"}
    doc["calibration"] = {n: ev.calibration(y, s) for n, s in probs.items()} if (
        0 < y.sum() < len(y)) else {}
    if "model" in scores:
        doc["comparison"] = {
            "window": doc["window"], "data_hash": doc["data_hash"],
            "champion_id": champion.model_id if champion else None,
            "challenger_pr_auc": doc["models"]["model"]["pr_auc"],
            "champion_pr_auc": doc["models"]["champion"]["pr_auc"] if champion else None,
            "rules_pr_auc": doc["models"]["rules"]["pr_auc"]}
    if folder is not None and 0 < y.sum() < len(y):
        folder.mkdir(parents=True, exist_ok=True)
        ev.plot_pr(y, scores, folder / "pr_curve.png")
        ev.plot_calibration(y, probs, folder / "calibration.png")
        if model is not None:
            doc["importance"] = ev.permutation_importances(model, test.X, y)
            ev.plot_importance(doc["importance"], folder / "importance.png")
    return doc


def train_and_register(settings: Settings, spec: DataSpec, root: Path,
                       holdout: DataSpec | None = None) -> TrainResult:
    """Fit, evaluate against rules and champion on the same held-out rows, register."""
    t = settings.scoring.training
    if holdout is None:
        features = load_features(spec.lakes, spec.start, spec.end, spec.regions)
        labels = labels_for(spec, settings, features)
        try:
            split = time_split(features, labels, spec.label_sources, t.test_days, t.gap_days,
                               t.test_vessel_share, t.unlabelled_as_negative)
        except ValueError as exc:
            raise UserError(f"cannot split the data: {exc} (widen --start/--end or lower "
                            f"scoring.training.test_days)") from exc
        train_set, test_set = split.train, split.test
        description = (f"last {t.test_days} days, {t.test_vessel_share:.0%} of vessels held "
                       f"out by MMSI, {t.gap_days}-day gap")
    else:
        train_set = labelled(spec, settings)
        test_set = labelled(holdout, settings)
        description = "separate held-out data set (" + ", ".join(
            sorted(test_set.frame["region"].dropna().unique())) + ")"
    trained = train.fit(train_set, settings.scoring.model)
    X = train_set.X
    lo, hi = train_set.window
    training = {"window": [str(lo), str(hi)],
                "regions": sorted(train_set.frame["region"].dropna().unique().tolist()),
                "label_sources": list(spec.label_sources), "counts": train_set.counts(),
                "data_hash": train_set.hash()}
    id_spec = {"features": list(FEATURE_COLUMNS), "schema": features_schema_version(),
               "sklearn": registry.libraries()["scikit-learn"],
               "model": settings.scoring.model.model_dump(), "training": training}
    model_id = registry.model_id_for(id_spec)
    champion = _champion_or_none(settings, root)
    if champion is not None and champion.model_id == model_id:
        champion = None
    scores = score_all(test_set, settings, trained, champion)
    folder = root / model_id
    evaluation = evaluation_doc(test_set, scores, settings.alerts.capacity,
                                description, champion, folder, trained.model)
    med = X.median(skipna=True)
    meta = {
        "estimator": "Pipeline[CalibratedClassifierCV(HistGradientBoostingClassifier, "
                     f"{settings.scoring.model.calibration}, GroupKFold by MMSI)]",
        "features": list(FEATURE_COLUMNS), "features_schema_version": features_schema_version(),
        "libraries": registry.libraries(), "hyper_parameters": settings.scoring.model.model_dump(),
        "training": training, "rules_model_id": rules_model_id(settings.scoring),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "explanation_baseline": {c: (None if pd.isna(v) else float(v)) for c, v in med.items()},
        "drift_reference": reference_histograms(X, t.psi_bins),
        "evaluation": evaluation,
    }
    registry.save_model(root, model_id, trained.model, meta)
    meta["model_id"] = model_id
    (folder / registry.CARD_FILE).write_text(ev.model_card(meta), encoding="utf-8")
    return TrainResult(model_id, folder, meta)


def evaluate_model(settings: Settings, root: Path, model_id: str | None, spec: DataSpec,
                   record: bool = True) -> dict[str, Any]:
    """Evaluate a registered model (default: the champion), the rules and the champion on
    the same window; with ``record`` the comparison is stored in the model's metadata (the
    promotion gate reads it)."""
    champ_id = registry.champion_id(root)
    mid = model_id or champ_id
    if mid is None:
        raise UserError("no model given and no champion promoted (see `vessel-risk models list`)")
    loaded = registry.load_model(root, mid)
    champion = registry.load_model(root, champ_id) if champ_id and champ_id != mid else None
    test = labelled(spec, settings)
    X = test.X
    scores = {"model": train.predict(loaded.model, X),
              "rules": rule_scores(test.frame, settings.scoring).score}
    if champion is not None:
        scores["champion"] = train.predict(champion.model, X)
    doc = evaluation_doc(test, scores, settings.alerts.capacity,
                         "evaluate: " + ", ".join(spec.label_sources), champion, None)
    doc["model_id"] = mid
    if record:
        meta = loaded.metadata
        meta.setdefault("evaluations", []).append(
            {k: v for k, v in doc.items() if k != "calibration"})
        meta["evaluation"]["comparison"] = doc["comparison"]
        registry.write_json(root / mid / registry.META_FILE, meta)
    return doc


def quality_target(doc: dict[str, Any], target: float = 0.8) -> dict[str, Any]:
    """The issue's bar: precision@k and recall@k >= target and above the rule baseline."""
    m, r = doc["models"]["model"], doc["models"]["rules"]
    p, rec = m.get("precision_at_k") or 0.0, m.get("recall_at_k") or 0.0
    return {"precision_at_k": p, "recall_at_k": rec,
            "rules_precision_at_k": r.get("precision_at_k"), "target": target,
            "met": bool(p >= target and rec >= target
                        and p > (r.get("precision_at_k") or 0.0))}
