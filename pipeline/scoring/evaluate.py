"""Evaluation on a held-out window: the figures, plots and model card ML staff compare.

- ``pr_auc``: average precision over the whole window (the area under the PR curve; the
  base rate is the score of a random ranking).
- ``precision_at_k`` / ``recall_at_k``: each day the analysts of a region review its top
  ``k`` vessels (k = ``alerts.daily_capacity`` of the region, the same cut the alert list
  makes; fewer when the day has fewer vessels). Precision = share
  of reviewed vessel-days that were smuggling; recall = share of the day's smuggling
  vessel-days that were reviewed. Pooled over the window (sums over days), with the per-day
  values alongside.
- ``brier``: mean squared error of the probabilities (the rule score is not a probability:
  its Brier score is shown for completeness only); a calibration curve per model.
- The same per region. Plots are PNG files written with matplotlib's Agg backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, precision_recall_curve


def _r(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 4)


Capacity = Callable[[str | None], int]


def top_k(frame: pd.DataFrame, score: np.ndarray, capacity: Capacity) -> pd.DataFrame:
    """Per day and region: vessels, positives, k used, hits in the region's top k (ties
    broken by MMSI)."""
    region = frame["region"].astype(object).where(frame["region"].notna(), "")
    f = pd.DataFrame({"date": frame["date"].to_numpy(), "region": region.to_numpy(),
                      "mmsi": frame["mmsi"].to_numpy(), "label": frame["label"].to_numpy(),
                      "score": score})
    f = f.sort_values(["date", "region", "score", "mmsi"], ascending=[True, True, False, True])
    f["rank"] = f.groupby(["date", "region"]).cumcount() + 1
    f["cap"] = f["region"].map({r: capacity(r or None) for r in f["region"].unique()})
    g = f.groupby(["date", "region"])
    out = pd.DataFrame({"vessels": g.size(), "positives": g["label"].sum(),
                        "cap": g["cap"].first()})
    out["k"] = np.minimum(out["vessels"], out["cap"])
    out["hits"] = f[f["rank"] <= f["cap"]].groupby(["date", "region"])["label"].sum(
        ).reindex(out.index, fill_value=0)
    return out.reset_index()


def metrics(frame: pd.DataFrame, score: np.ndarray, capacity: Capacity) -> dict[str, Any]:
    """Every figure of one model on one labelled window (``frame`` has date, mmsi, label)."""
    y = frame["label"].to_numpy()
    days = top_k(frame, score, capacity)
    pos = int(y.sum())
    out: dict[str, Any] = {
        "vessel_days": len(y), "positives": pos, "days": int(days["date"].nunique()),
        "k": {r or "(none)": int(c) for r, c in zip(days["region"], days["cap"], strict=True)},
        "pr_auc": _r(average_precision_score(y, score)) if 0 < pos < len(y) else None,
        "base_rate": _r(pos / len(y)) if len(y) else None,
        "precision_at_k": _r(days["hits"].sum() / days["k"].sum()) if len(days) else None,
        "recall_at_k": _r(days["hits"].sum() / pos) if pos else None,
        # the best any ranking could do with this many positives a day
        "max_precision_at_k": _r(np.minimum(days["positives"], days["k"]).sum()
                                 / days["k"].sum()) if len(days) else None,
        "brier": _r(brier_score_loss(y, np.clip(score, 0, 1))) if len(y) else None,
        "per_day": [{"date": str(r.date), "region": r.region or None,
                     "vessels": int(r.vessels),
                     "positives": int(r.positives), "hits": int(r.hits),
                     "precision_at_k": _r(r.hits / r.k) if r.k else None,
                     "recall_at_k": _r(r.hits / r.positives) if r.positives else None}
                    for r in days.itertuples()],
    }
    return out


def evaluate_scores(frame: pd.DataFrame, scores: Mapping[str, np.ndarray], k: Capacity
                    ) -> dict[str, Any]:
    """Figures of several scorers on the same window, overall and per region."""
    out: dict[str, Any] = {"window": [str(frame["date"].min()), str(frame["date"].max())],
                           "models": {}, "regions": {}}
    for name, s in scores.items():
        out["models"][name] = metrics(frame, s, k)
    regions = frame["region"].fillna("(none)")
    for region in sorted(regions.unique()):
        mask = (regions == region).to_numpy()
        out["regions"][region] = {
            name: {key: v for key, v in metrics(frame[mask], s[mask], k).items()
                   if key != "per_day"}
            for name, s in scores.items()}
    return out


# --------------------------------------------------------------------------- plots


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr(y: np.ndarray, scores: Mapping[str, np.ndarray], path: Path) -> Path:
    """Precision-recall curves of every scorer on the window."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for name, s in scores.items():
        p, r, _ = precision_recall_curve(y, s)
        ax.plot(r, p, label=f"{name} (AP {average_precision_score(y, s):.2f})")
    ax.axhline(y.mean(), color="grey", linestyle=":", label="random")
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall (held-out window)",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def calibration(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Observed frequency against mean predicted probability per quantile bin."""
    frac, mean = calibration_curve(y, np.clip(prob, 0, 1), n_bins=bins, strategy="quantile")
    return {"predicted": [round(float(v), 4) for v in mean],
            "observed": [round(float(v), 4) for v in frac]}


def plot_calibration(y: np.ndarray, probs: Mapping[str, np.ndarray], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, p in probs.items():
        c = calibration(y, p)
        ax.plot(c["predicted"], c["observed"], marker="o", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed share smuggling",
           title="calibration (held-out window)", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def permutation_importances(model: Any, X: pd.DataFrame, y: np.ndarray, repeats: int = 3,
                            seed: int = 0, top: int = 15) -> list[dict[str, Any]]:
    """Drop in average precision when one feature's values are shuffled (held-out data)."""
    from sklearn.inspection import permutation_importance

    res = permutation_importance(model, X, y, scoring="average_precision", n_repeats=repeats,
                                 random_state=seed, n_jobs=1)
    order = np.argsort(-res.importances_mean)[:top]
    return [{"feature": str(X.columns[i]), "mean": round(float(res.importances_mean[i]), 4),
             "std": round(float(res.importances_std[i]), 4)} for i in order]


def plot_importance(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(rows), 3) + 1.2))
    names = [r["feature"] for r in rows][::-1]
    ax.barh(names, [r["mean"] for r in rows][::-1], xerr=[r["std"] for r in rows][::-1])
    ax.set(xlabel="drop in average precision when shuffled",
           title="permutation importance (held-out window)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- model card


def _fmt(v: Any) -> str:
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def model_card(meta: Mapping[str, Any]) -> str:
    """The markdown model card of a registered model (from its metadata)."""
    ev = meta.get("evaluation", {})
    train = meta.get("training", {})
    simulated = "simulator" in train.get("label_sources", [])
    lines = [f"# Model card: {meta['model_id']}", ""]
    if simulated:
        lines += ["> **Trained on simulated data.** The labels are the simulator's ground "
                  "truth, which no PIU has. This model only lets scoring work on day one; "
                  "its figures say how it does on simulated traffic, not on real AIS. "
                  "Replace it with a model trained on your own incident reports and "
                  "dispositions as soon as they exist.", ""]
    lines += [
        "## What it is",
        f"- {meta.get('estimator')}",
        f"- features: {len(meta.get('features', []))} columns of lake/features "
        f"(schema version {meta.get('features_schema_version')})",
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in meta.get("libraries", {}).items()),
        "", "## Data",
        f"- training window: {train.get('window')} regions {train.get('regions')}",
        f"- training data hash: {train.get('data_hash')}",
        f"- label sources (priority order): {train.get('label_sources')}",
        f"- training counts: {train.get('counts')}",
        f"- held-out window: {ev.get('window')} ({ev.get('description', '')})",
        f"- held-out counts: {ev.get('counts')}",
        "", f"## Metrics on the held-out window (k = {ev.get('k')} a day: alerts.daily_capacity)",
        "",
        "| scorer | PR-AUC | precision@k | recall@k | best possible precision@k | Brier |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in ev.get("models", {}).items():
        lines.append(f"| {name} | {_fmt(m.get('pr_auc'))} | {_fmt(m.get('precision_at_k'))} "
                     f"| {_fmt(m.get('recall_at_k'))} | {_fmt(m.get('max_precision_at_k'))} "
                     f"| {_fmt(m.get('brier'))} |")
    if ev.get("regions"):
        lines += ["", "### Per region", "", "| region | scorer | PR-AUC | precision@k | "
                  "recall@k |", "|---|---|---|---|---|"]
        for region, per in ev["regions"].items():
            for name, m in per.items():
                lines.append(f"| {region} | {name} | {_fmt(m.get('pr_auc'))} | "
                             f"{_fmt(m.get('precision_at_k'))} | {_fmt(m.get('recall_at_k'))} |")
    if ev.get("importance"):
        lines += ["", "## Most important features (permutation, held-out)", ""]
        lines += [f"- {r['feature']}: {r['mean']:+.3f} ± {r['std']:.3f}"
                  for r in ev["importance"][:10]]
    lines += ["", "Plots: `pr_curve.png`, `calibration.png`, `importance.png`.", "",
              "## Limitations"]
    if simulated and ev.get("importance"):
        top = ev["importance"][0]["feature"]
        lines.append(f"- On simulated data the model leans most on `{top}`; the simulator "
                     "draws smuggling vessels from its own fleet profiles, so a feature "
                     "like that may separate them far better than it would on real traffic.")
    lines += [
              "- Scores rank vessel-days by behaviour seen in AIS; a vessel that never "
              "transmits is invisible, and a score is a lead for an analyst, not evidence.",
              "- Labels are incomplete: unlabelled vessel-days count as negatives, so "
              "precision is understated where smuggling went unreported.",
              "- Probabilities are calibrated on the training population; after drift "
              "(see the drift section of `vessel-risk score`) they are only a ranking.",
              "- Explanations are per-feature occlusion against the training median, "
              "not exact Shapley values (see pipeline/scoring/explain.py)."]
    return "\n".join(lines) + "\n"
