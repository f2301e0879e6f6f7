"""Feature drift: population stability index between the training window and recent days.

At training time each feature's distribution is summarised as a histogram over quantile bins
of the training rows (inner edges at the deciles, duplicates merged, one extra bin for
missing values) and stored in the model's metadata.json. At scoring time the recent days'
rows fall into the same bins and

    PSI = sum over bins of (recent share - training share) x ln(recent share / training share)

(shares floored at ``EPS`` so empty bins stay finite). Rules of thumb: below 0.1 stable,
0.1-0.25 moderate shift, above 0.25 (``scoring.training.drift_psi_threshold``) flagged: the
calibrated probabilities no longer describe the population and the model needs retraining.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

EPS = 1e-4


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares per bin (len(edges) + 1 value bins, then the missing bin)."""
    missing = ~np.isfinite(values)
    idx = np.searchsorted(edges, values[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    counts = np.append(counts, missing.sum())
    return counts / max(len(values), 1)


def reference_histograms(X: pd.DataFrame, bins: int) -> dict[str, dict[str, list[float]]]:
    """Per feature: inner bin edges and the training shares (stored in metadata.json)."""
    out = {}
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    for name in X.columns:
        v = X[name].to_numpy(dtype=np.float64)
        finite = v[np.isfinite(v)]
        edges = np.unique(np.quantile(finite, qs)) if len(finite) else np.zeros(0)
        out[str(name)] = {"edges": [float(e) for e in edges],
                          "shares": [round(float(s), 6) for s in _shares(v, edges)]}
    return out


def psi(reference: Mapping[str, Mapping[str, list[float]]], X: pd.DataFrame,
        threshold: float) -> list[dict[str, Any]]:
    """PSI of every referenced feature on ``X``, largest first, flagged above threshold."""
    rows = []
    for name, ref in reference.items():
        if name not in X.columns:
            continue
        edges = np.asarray(ref["edges"], dtype=np.float64)
        expected = np.maximum(np.asarray(ref["shares"], dtype=np.float64), EPS)
        actual = np.maximum(_shares(X[name].to_numpy(dtype=np.float64), edges), EPS)
        value = float(np.sum((actual - expected) * np.log(actual / expected)))
        rows.append({"feature": name, "psi": round(value, 4), "flagged": value > threshold})
    return sorted(rows, key=lambda r: (-r["psi"], r["feature"]))
