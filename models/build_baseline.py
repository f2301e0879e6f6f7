"""Rebuild the shipped baseline model from simulated data (exact command in models/README.md).

    .venv/bin/python models/build_baseline.py

Simulates (cached under var/simdata/) two weeks of each region with seeds 11, 12 (andaman-sea)
and 21, 22 (south-indonesia), trains on all four with the simulator's ground truth, evaluates
on two other simulated stretches (andaman-sea seed 13, south-indonesia seed 23) beside the
rule baseline, registers the model in models/ and promotes it if the gate lets it (first
champion, or better than the current champion on the same held-out data). Deterministic:
the same code and settings give the same model id.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.config import load_settings  # noqa: E402
from pipeline.errors import UserError  # noqa: E402
from pipeline.scoring import registry  # noqa: E402
from pipeline.scoring.lifecycle import DataSpec, train_and_register  # noqa: E402
from pipeline.scoring.simdata import TEST_SPECS, TRAIN_SPECS, build_sim_lake  # noqa: E402

CACHE = REPO / "var" / "simdata"


def main() -> None:
    settings = load_settings()
    root = registry.REPO_MODELS
    train = [build_sim_lake(settings, s, CACHE) for specs in TRAIN_SPECS.values()
             for s in specs]
    test = [build_sim_lake(settings, s, CACHE) for s in TEST_SPECS.values()]
    spec = DataSpec(lakes=[s.lake for s in train], label_sources=["simulator"],
                    ground_truth=[s.root / "landing" for s in train])
    holdout = DataSpec(lakes=[s.lake for s in test], label_sources=["simulator"],
                       ground_truth=[s.root / "landing" for s in test],
                       regions=sorted(TEST_SPECS))
    result = train_and_register(settings, spec, root, holdout)
    print(f"registered {result.model_id} in {result.folder}")
    for name, m in result.metadata["evaluation"]["models"].items():
        print(f"  {name:<9} PR-AUC {m['pr_auc']}  precision@k {m['precision_at_k']}  "
              f"recall@k {m['recall_at_k']}  Brier {m['brier']}")
    try:
        entry = registry.promote(root, result.model_id,
                                 settings.scoring.training.promotion_margin)
        print(f"promoted: {entry['verdict']}")
    except UserError as exc:
        print(f"not promoted: {exc}")


if __name__ == "__main__":
    main()
