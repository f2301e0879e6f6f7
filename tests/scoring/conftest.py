"""A small simulated lake with ground truth and a model registry trained on it (built once
per test session: a few seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.scoring.lifecycle import DataSpec, TrainResult, train_and_register
from pipeline.scoring.simdata import SimLake, SimSpec, build_sim_lake

SPEC = SimSpec("andaman-sea", date(2024, 11, 18), 4, 5, 80, 0.2)


@dataclass
class Trained:
    settings: Settings
    sim: SimLake
    root: Path  # the registry
    result: TrainResult

    def data(self) -> DataSpec:
        return DataSpec(lakes=[self.sim.lake], label_sources=["simulator"],
                        ground_truth=[self.sim.root / "landing"])


def small_settings(root: Path) -> Settings:
    """Settings for a tiny fleet: one held-out day, no gap, a registry of its own."""
    base = load_settings()
    training = base.scoring.training.model_copy(update={"test_days": 1, "gap_days": 0})
    model = base.scoring.model.model_copy(update={"max_iter": 40, "min_samples_leaf": 5})
    scoring = base.scoring.model_copy(update={"training": training, "model": model,
                                              "models_dir": root})
    return base.model_copy(update={"scoring": scoring})


@pytest.fixture(scope="session")
def sim_lake(tmp_path_factory: pytest.TempPathFactory) -> SimLake:
    return build_sim_lake(load_settings(), SPEC, tmp_path_factory.mktemp("simdata"))


@pytest.fixture(scope="session")
def trained(sim_lake: SimLake, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("models")
    settings = small_settings(root)
    spec = DataSpec(lakes=[sim_lake.lake], label_sources=["simulator"],
                    ground_truth=[sim_lake.root / "landing"])
    return Trained(settings, sim_lake, root, train_and_register(settings, spec, root))
