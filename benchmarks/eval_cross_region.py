"""Cross-region quality of the model: train on one simulated region, evaluate on the other
with a different seed, and compare with the rule baseline (issue 5's quality target). The held-out figures count
the vessel-days inside the evaluated region's area (vessels outside every region are left
out: no PIU of that region reviews them).

    .venv/bin/python benchmarks/eval_cross_region.py            # both directions
    .venv/bin/python benchmarks/eval_cross_region.py --json

Simulated lakes are cached under var/simdata/ (gitignored; ~10 s per simulated week the first
time). Models are registered in a scratch registry under var/, never in models/.
Prints PR-AUC, precision@k, recall@k (k = alerts.daily_capacity of the region) and Brier per scorer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.config import Settings, load_settings  # noqa: E402
from pipeline.scoring.lifecycle import DataSpec, quality_target, train_and_register  # noqa: E402
from pipeline.scoring.simdata import TEST_SPECS as TEST  # noqa: E402
from pipeline.scoring.simdata import TRAIN_SPECS as TRAIN  # noqa: E402
from pipeline.scoring.simdata import SimSpec, build_sim_lake  # noqa: E402

CACHE = REPO / "var" / "simdata"


def spec_of(settings: Settings, specs: list[SimSpec], regions: list[str] | None = None
            ) -> DataSpec:
    sims = [build_sim_lake(settings, s, CACHE) for s in specs]
    return DataSpec(lakes=[s.lake for s in sims], label_sources=["simulator"],
                    ground_truth=[s.root / "landing" for s in sims], regions=regions or [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--train-region", choices=sorted(TRAIN), action="append",
                        help="region to train on (default: both, one run each)")
    args = parser.parse_args()
    settings = load_settings()
    results = []
    for region in args.train_region or sorted(TRAIN):
        other = next(r for r in TEST if r != region)
        res = train_and_register(settings, spec_of(settings, TRAIN[region]),
                                 REPO / "var" / "bench-models",
                                 holdout=spec_of(settings, [TEST[other]], [other]))
        doc = res.metadata["evaluation"]
        results.append({"train": region, "test": other, "model_id": res.model_id,
                        "test_counts": doc["counts"], "k": doc["k"],
                        "models": {n: {k: m[k] for k in ("pr_auc", "precision_at_k",
                                                          "recall_at_k", "max_precision_at_k",
                                                          "brier")}
                                   for n, m in doc["models"].items()},
                        "target": quality_target(doc)})
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        c = r["test_counts"]
        print(f"\ntrain {r['train']} -> test {r['test']} ({c['vessel_days']} vessel-days, "
              f"{c['positives']} smuggling, {c['window']}), k = {r['k']} a day")
        print(f"  {'scorer':<10} {'PR-AUC':>7} {'prec@k':>7} {'rec@k':>7} {'best p@k':>8} "
              f"{'Brier':>7}")
        for name, m in r["models"].items():
            print(f"  {name:<10} " + " ".join(
                f"{(m[k] if m[k] is not None else float('nan')):>{w}.3f}"
                for k, w in (("pr_auc", 7), ("precision_at_k", 7), ("recall_at_k", 7),
                             ("max_precision_at_k", 8), ("brier", 7))))
        t = r["target"]
        print(f"  quality target (p@k and r@k >= {t['target']}, beat rules): "
              f"{'MET' if t['met'] else 'NOT MET'}")


if __name__ == "__main__":
    main()
