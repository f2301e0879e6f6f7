"""``vessel-risk train``, ``evaluate`` and ``models …`` as ML staff use them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.scoring.conftest import Trained
from tests.test_cli import run


@pytest.mark.parametrize("command", [["train"], ["evaluate"], ["models", "promote"]])
def test_every_model_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_models_list_show_promote(trained: Trained, tmp_path: Path) -> None:
    root = tmp_path / "models"
    mid = trained.result.model_id
    shutil.copytree(trained.root / mid, root / mid)
    env = {"VESSEL_RISK__SCORING__MODELS_DIR": str(root)}
    listed = run("models", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["model_id"] for r in rows] == [mid] and not rows[0]["champion"]
    shown = json.loads(run("models", "show", mid, "--json", env=env).stdout)
    assert shown["model_id"] == mid and "drift_reference" not in shown
    refused = run("models", "promote", mid, "--force", env=env)
    assert refused.returncode == 2 and "--reason" in refused.stderr
    done = run("models", "promote", mid, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdict"] == "first champion"
    assert json.loads((root / "index.json").read_text())["champion"] == mid


def test_train_and_evaluate_commands(trained: Trained, tmp_path: Path) -> None:
    root = tmp_path / "models"
    env = {"VESSEL_RISK__SCORING__MODELS_DIR": str(root),
           "VESSEL_RISK__SCORING__TRAINING__TEST_DAYS": "1",
           "VESSEL_RISK__SCORING__TRAINING__GAP_DAYS": "0",
           "VESSEL_RISK__SCORING__MODEL__MAX_ITER": "20",
           "VESSEL_RISK__SCORING__MODEL__MIN_SAMPLES_LEAF": "5"}
    lake = str(trained.sim.root / "lake")
    truth = str(trained.sim.root / "landing")
    bad = run("train", "--lake", lake, "--labels", "simulator", env=env)
    assert bad.returncode == 2 and "--ground-truth" in bad.stderr
    out = run("train", "--lake", lake, "--labels", "simulator", "--ground-truth", truth,
              "--json", env=env)
    assert out.returncode == 0, out.stderr
    mid = json.loads(out.stdout)["model_id"]
    assert (root / mid / "card.md").exists()
    assert run("models", "promote", mid, env=env).returncode == 0
    ev = run("evaluate", "--lake", lake, "--labels", "simulator", "--ground-truth", truth,
             env=env)
    assert ev.returncode == 0, ev.stderr
    assert "quality target" in ev.stdout and "precision@" in ev.stdout
