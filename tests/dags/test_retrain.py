"""The model_retrain tasks' functions on a small simulated lake: training set → train →
evaluate (the card and plots are named) → promote through the gate only."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.orchestration import (
    Env,
    run_evaluate,
    run_promote,
    run_train,
    run_training_set,
    training_window,
)
from pipeline.scoring import registry
from pipeline.scoring.simdata import SimLake
from pipeline.workspace import Workspace
from tests.scoring.conftest import SPEC, sim_lake, small_settings  # noqa: F401


@pytest.fixture
def retrain_env(sim_lake: SimLake, tmp_path: Path) -> Env:  # noqa: F811
    base = small_settings(tmp_path / "models")
    training = base.scoring.training.model_copy(update={"label_sources": ["simulator"]})
    settings: Settings = base.model_copy(update={"scoring": base.scoring.model_copy(
        update={"training": training})})
    env = Env(settings, Workspace(sim_lake.root))
    from pipeline.alerts.store import open_store

    env._engine = open_store(f"sqlite:///{tmp_path / 'app.sqlite'}")
    return env


def test_retrain_steps_register_link_and_gate(retrain_env: Env) -> None:
    start, end = training_window(SPEC.end, SPEC.days)
    ts = run_training_set(retrain_env, start, end)
    assert ts["window"] == [str(start), str(end)] and ts["counts"]["positives"] > 0
    trained = run_train(retrain_env, start, end)
    mid = trained["model_id"]
    assert Path(trained["model_card"]).is_file()
    evaluated = run_evaluate(retrain_env, mid)
    assert evaluated["model_card"] == trained["model_card"]
    assert {Path(p).name for p in evaluated["plots"]} >= {"pr_curve.png", "calibration.png"}
    assert evaluated["models"]["model"]["pr_auc"] is not None
    first = run_promote(retrain_env, mid)  # no champion yet: the gate lets the first one in
    assert first["promoted"] and first["verdict"] == "first champion"
    root = registry.models_dir(retrain_env.settings)
    assert registry.champion_id(root) == mid
    again = run_promote(retrain_env, mid)  # a refusal is an outcome, not a failure
    assert again == {"model_id": mid, "promoted": False,
                     "why": f"model {mid} is already the champion"}
