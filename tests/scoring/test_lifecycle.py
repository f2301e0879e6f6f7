"""Train → register → load → promote → score with the champion, on a small simulated lake."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.lake import Lake
from pipeline.schemas import HISTORY_FEATURES, TABLES
from pipeline.scoring import registry
from pipeline.scoring.lifecycle import evaluate_model
from pipeline.scoring.score import score_day
from tests.scoring.conftest import Trained


def test_registered_model_folder_and_metadata(trained: Trained) -> None:
    folder = trained.result.folder
    for name in ("model.skops", "metadata.json", "card.md", "pr_curve.png", "calibration.png",
                 "importance.png"):
        assert (folder / name).stat().st_size > 0, name
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["model_id"] == folder.name and meta["model_id"].startswith("hgb-")
    assert meta["libraries"]["scikit-learn"] and meta["features_schema_version"]
    assert meta["training"]["label_sources"] == ["simulator"]
    assert meta["training"]["counts"]["positives"] > 0
    ev = meta["evaluation"]
    assert set(ev["models"]) == {"model", "logistic", "rules"}
    assert ev["models"]["model"]["pr_auc"] > ev["models"]["model"]["base_rate"]
    assert set(meta["drift_reference"]) == set(meta["features"])
    card = (folder / "card.md").read_text()
    assert "Trained on simulated data" in card and "precision@k" in card


def test_model_id_comes_from_content(trained: Trained, tmp_path: Path) -> None:
    from pipeline.scoring.lifecycle import train_and_register

    again = train_and_register(trained.settings, trained.data(), tmp_path)
    assert again.model_id == trained.result.model_id


def test_load_checks_types_features_and_versions(trained: Trained, tmp_path: Path) -> None:
    mid = trained.result.model_id
    loaded = registry.load_model(trained.root, mid)
    assert isinstance(loaded.model, Pipeline)
    root = tmp_path / "models"
    shutil.copytree(trained.root / mid, root / mid)
    meta_path = root / mid / "metadata.json"
    meta = json.loads(meta_path.read_text())

    for key, value, message in (
        ("features", meta["features"][:-1], "feature list"),
        ("features_schema_version", "000000000000", "features schema"),
        ("libraries", {**meta["libraries"], "scikit-learn": "0.24.2"}, "scikit-learn 0.24.2"),
    ):
        meta_path.write_text(json.dumps({**meta, key: value}))
        with pytest.raises(registry.ModelRefused, match=message):
            registry.load_model(root, mid)
    meta_path.write_text(json.dumps(meta))
    # a file holding a type outside the trusted list is refused before it is loaded
    evil = Pipeline([("f", FunctionTransformer(shutil.rmtree))])
    (root / mid / "model.skops").write_bytes(sio.dumps(evil))
    with pytest.raises(registry.ModelRefused, match="trusted list"):
        registry.load_model(root, mid)
    with pytest.raises(UserError, match="not in"):
        registry.load_model(root, "../etc")


def test_promotion_gate(trained: Trained, tmp_path: Path) -> None:
    root = tmp_path / "models"
    mid = trained.result.model_id
    shutil.copytree(trained.root / mid, root / mid)
    first = registry.promote(root, mid, margin=0.02)
    assert first["verdict"] == "first champion" and registry.champion_id(root) == mid
    # a challenger compared with that champion and not better by the margin is refused
    other = "hgb-000000000001"
    shutil.copytree(root / mid, root / other)
    meta = json.loads((root / other / "metadata.json").read_text())
    meta["model_id"] = other
    meta["evaluation"]["comparison"] = {"champion_id": mid, "challenger_pr_auc": 0.50,
                                        "champion_pr_auc": 0.49, "window": ["a", "b"]}
    (root / other / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="does not beat champion"):
        registry.promote(root, other, margin=0.02)
    with pytest.raises(UserError, match="--reason"):
        registry.promote(root, other, margin=0.02, force=True)
    entry = registry.promote(root, other, 0.02, force=True, reason="analyst review")
    index = json.loads((root / "index.json").read_text())
    assert index["champion"] == other and index["history"][-1]["reason"] == "analyst review"
    assert entry["forced"] and entry["previous"] == mid
    # better by the margin: promoted without force
    meta["evaluation"]["comparison"] = {"champion_id": other, "challenger_pr_auc": 0.9,
                                        "champion_pr_auc": 0.5, "window": ["a", "b"]}
    back = json.loads((root / mid / "metadata.json").read_text())
    back["evaluation"]["comparison"] = meta["evaluation"]["comparison"]
    (root / mid / "metadata.json").write_text(json.dumps(back))
    assert "beat" in registry.promote(root, mid, 0.02)["verdict"]


def _promoted(trained: Trained, tmp_path: Path) -> tuple[Path, str, Settings]:
    """The trained model promoted in a registry of its own, and settings that score with it."""
    root = tmp_path / "models"
    mid = trained.result.model_id
    shutil.copytree(trained.root / mid, root / mid)
    registry.promote(root, mid, 0.02)
    scoring = trained.settings.scoring.model_copy(update={"models_dir": root})
    return root, mid, trained.settings.model_copy(update={"scoring": scoring})


def test_champion_scores_with_reasons_and_drift(trained: Trained, tmp_path: Path) -> None:
    root, mid, settings = _promoted(trained, tmp_path)
    lake = Lake(tmp_path / "lake")
    day = date(2024, 11, 21)
    for d in (date(2024, 11, 20), day):
        lake.write_partition("features", d, trained.sim.lake.read("features", d))
        lake.write_partition("events", d, trained.sim.lake.read("events", d))
    summary = score_day(lake, settings, day)
    assert summary.model_id == mid
    scores = lake.read("scores", day).to_pandas()
    assert set(scores["model_id"]) == {mid} and scores["score"].between(0, 1).all()
    top = scores.sort_values("rank").iloc[0]
    assert len(top["reasons"]) >= 1 and len(top["reason_codes"]) == len(top["reasons"])
    drift = summary.as_dict()["drift"]
    assert drift["reference"] == trained.result.metadata["training"]["window"]
    # two days in the lake: the 30-day history features are not compared (yet)
    compared = {r["feature"] for r in drift["features"]}
    skipped = set(drift["not_compared"]["features"])
    assert skipped == set(HISTORY_FEATURES) & set(trained.result.metadata["features"])
    assert skipped and "holds 1 of the 29 previous days" in drift["not_compared"]["why"]
    assert compared | skipped == set(trained.result.metadata["features"])
    assert not compared & skipped
    assert all(r["psi"] >= 0 for r in drift["features"])
    # with a month of history before the day they are compared like the others
    old = lake.read("features", day).to_pandas()
    old["date"] = day - timedelta(days=40)
    lake.write_partition("features", day - timedelta(days=40),
                         pa.Table.from_pandas(old, preserve_index=False).cast(TABLES["features"]))
    again = score_day(lake, settings, day).as_dict()["drift"]
    assert "not_compared" not in again
    assert {r["feature"] for r in again["features"]} == set(trained.result.metadata["features"])
    # the evaluation on the same lake records a comparison in the model's metadata
    doc = evaluate_model(settings, root, None, trained.data())
    assert doc["model_id"] == mid and "rules" in doc["models"]
    assert json.loads((root / mid / "metadata.json").read_text())["evaluations"]


def test_a_population_the_champion_never_saw_is_scored_by_the_rules(trained: Trained,
                                                                    tmp_path: Path) -> None:
    """Most features drifted (another sea, another receiver network): the champion's
    probabilities mean nothing there, so the rules score the day and the summary says why."""
    _, _, settings = _promoted(trained, tmp_path)
    lake = Lake(tmp_path / "lake")
    day = date(2024, 11, 21)
    frame = trained.sim.lake.read("features", day).to_pandas()
    shifted = [c for c in trained.result.metadata["features"]
               if c in frame.columns and pd.api.types.is_numeric_dtype(frame[c])]
    frame[shifted] = frame[shifted].astype("float64") * 7.0 + 1000.0  # far outside training
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(
        TABLES["features"], safe=False)
    lake.write_partition("features", day, table)
    lake.write_partition("events", day, trained.sim.lake.read("events", day))
    summary = score_day(lake, settings, day)
    assert summary.model_id.startswith("rules-"), summary.model_id
    assert summary.champion_refused and "drifted" in summary.champion_refused
    drift = summary.as_dict()["drift"]
    assert len(drift["flagged"]) > len(drift["features"]) / 2
    assert set(lake.read("scores", day).column("model_id").to_pylist()) == {summary.model_id}


def test_without_a_champion_the_rules_score(trained: Trained, tmp_path: Path) -> None:
    scoring = trained.settings.scoring.model_copy(update={"models_dir": tmp_path / "empty"})
    settings = trained.settings.model_copy(update={"scoring": scoring})
    lake = Lake(tmp_path / "lake")
    day = date(2024, 11, 21)
    lake.write_partition("features", day, trained.sim.lake.read("features", day))
    lake.write_partition("events", day, trained.sim.lake.read("events", day))
    summary = score_day(lake, settings, day)
    assert summary.model_id.startswith("rules-")
    assert summary.as_dict()["drift"]["reference"] is None


def test_a_refused_champion_leaves_the_rules_scoring_and_says_why(trained: Trained,
                                                                  tmp_path: Path) -> None:
    root, mid, settings = _promoted(trained, tmp_path)
    meta_path = root / mid / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "features_schema_version": "000000000000"}))
    lake = Lake(tmp_path / "lake")
    day = date(2024, 11, 21)
    lake.write_partition("features", day, trained.sim.lake.read("features", day))
    summary = score_day(lake, settings, day)
    assert summary.model_id.startswith("rules-")
    assert summary.champion_refused and "features schema" in summary.champion_refused
