"""Reason codes for model scores: per-feature contributions → plain-language sentences.

Method (feature occlusion against a baseline, a one-at-a-time approximation of SHAP values):
for each vessel-day x and feature j, the contribution is

    c_j(x) = logit p(x) - logit p(x with feature j set to its training baseline)

where p is the calibrated probability of the champion and the baseline is the feature's
median over the training rows (NaN, i.e. "unknown", when most training rows miss it). A
positive c_j says "this evidence raised the risk"; the values are in log-odds. All
occlusions of a batch are scored in one call (rows x features stacked into one matrix,
in chunks that bound memory). Unlike exact Shapley values the contributions need not add
up to the score when features interact; they rank the evidence, which is what the reason
codes need, and they cost n_features predictions per row instead of 2^n_features.

Contributions of features that describe the same behaviour are summed into one reason code
(the rule-baseline names of pipeline.scoring.rules, so analysts see the same codes and the
same sentences, built from the day's events, whichever scorer ran); the strongest positive
codes become the reasons. A behaviour feature (hours, counts of events) only counts towards
a reason when the vessel shows *more* of it than the baseline: the model may find that
"no loitering" raises a risk (boats that go dark do not loiter in view), but "loitered 0 h"
is no reason an analyst can act on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Settings
from pipeline.scoring.rules import RULES, EventIndex

# Feature → reason code (a rule of the baseline where one describes the behaviour).
FEATURE_REASON: dict[str, str] = {
    "departure_zone_night_h": "night_at_departure_h",
    "zone_dwell_count": "night_at_departure_h",
    "zone_dwell_h": "night_at_departure_h",
    "zone_dwell_night_h": "night_at_departure_h",
    "departure_zone_night_h_change_30d": "night_at_departure_h",
    "dark_gap_near_departure": "dark_after_departure",
    "dark_gap_count": "deliberate_dark_h",
    "dark_gap_h": "deliberate_dark_h",
    "dark_gap_night_h": "deliberate_dark_h",
    "dark_gap_max_h": "deliberate_dark_h",
    "dark_gap_max_reception_ratio": "deliberate_dark_h",
    "dark_gap_max_h_change_30d": "deliberate_dark_h",
    "heading_to_destination_count": "heading_to_destination_h",
    "heading_to_destination_h": "heading_to_destination_h",
    "heading_to_destination_night_h": "heading_to_destination_h",
    "encounter_count": "encounter_night_h",
    "encounter_h": "encounter_night_h",
    "encounter_night_h": "encounter_night_h",
    "encounter_partners": "encounter_night_h",
    "encounter_h_change_30d": "encounter_night_h",
    "identity_conflict_count": "identity_conflicts",
    "identity_conflict_h": "identity_conflicts",
    "identity_conflict_night_h": "identity_conflicts",
    "loiter_count": "loiter_night_h",
    "loiter_h": "loiter_night_h",
    "loiter_night_h": "loiter_night_h",
    "loiter_h_change_30d": "loiter_night_h",
    "undeclared_port_visits": "port_call_mismatches",
    "calls_without_ais": "port_call_mismatches",
}


# Features whose *absence* is no reason an analyst can act on ("no port visit", "loitered
# 0 h"): they count towards a reason only above the baseline.
MORE_IS_EVIDENCE = frozenset(FEATURE_REASON) | {"port_visit_count", "port_visit_h",
                                                "port_visit_night_h", "glitches", "night_share"}


def _num(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key)
    try:
        return float(v) if v is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


# Sentences of features no rule describes (value of the feature on the vessel-day).
OTHER: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "min_distance_to_departure_m": lambda r: (
        f"came within {_num(r, 'min_distance_to_departure_m') / 1000:.1f} km of a "
        "departure point"),
    "night_share": lambda r: f"{_num(r, 'night_share'):.0%} of its positions sent at night",
    "days_seen_30d": lambda r: f"seen on {_num(r, 'days_seen_30d'):.0f} of the last 30 days",
    "positions": lambda r: (
        "no AIS position received on the day" if not _num(r, "positions") > 0
        else f"only {_num(r, 'positions'):.0f} AIS positions received on the day"),
    "max_sog_kn": lambda r: f"top speed {_num(r, 'max_sog_kn'):.1f} kn",
    "length_m": lambda r: f"broadcast length {_num(r, 'length_m'):.0f} m",
    "is_class_b": lambda r: "small-craft (Class B) transponder",
    "has_static": lambda r: ("sent no static data (name, type)" if not r.get("has_static")
                             else "sent static data"),
    "ship_type": lambda r: (
        "broadcasts as a fishing vessel (AIS type 30)" if _num(r, "ship_type") == 30
        else f"AIS ship type {_num(r, 'ship_type'):.0f}"),
    "glitches": lambda r: f"{_num(r, 'glitches'):.0f} impossible position jump(s) on the day",
    "port_visit_count": lambda r: (
        "no port visit on the day" if not _num(r, "port_visit_count") > 0
        else f"{_num(r, 'port_visit_count'):.0f} port visit(s)"),
    "port_visit_h": lambda r: f"{_num(r, 'port_visit_h'):.1f} h in port",
    "port_visit_night_h": lambda r: f"{_num(r, 'port_visit_night_h'):.1f} h in port at night",
}


def reason_code(feature: str) -> str:
    return FEATURE_REASON.get(feature, feature)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def contributions(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame,
                  baseline: Mapping[str, float], chunk_rows: int = 2000) -> pd.DataFrame:
    """Occlusion contributions (log-odds) of every feature for every row of ``X``."""
    cols = list(X.columns)
    base = np.array([baseline.get(c, np.nan) for c in cols], dtype=np.float64)
    values = X.to_numpy(dtype=np.float64)
    out = np.zeros_like(values)
    n_f = len(cols)
    for lo in range(0, len(values), chunk_rows):
        block = values[lo:lo + chunk_rows]
        full = _logit(predict(pd.DataFrame(block, columns=cols)))
        stacked = np.repeat(block[:, None, :], n_f, axis=1)  # (rows, feature occluded, cols)
        idx = np.arange(n_f)
        stacked[:, idx, idx] = base
        occluded = _logit(predict(pd.DataFrame(stacked.reshape(-1, n_f), columns=cols)))
        out[lo:lo + chunk_rows] = full[:, None] - occluded.reshape(len(block), n_f)
    return pd.DataFrame(out, columns=cols, index=X.index)


def by_reason(contrib: pd.DataFrame) -> pd.DataFrame:
    """Contributions summed per reason code (columns), in first-seen feature order."""
    codes = [reason_code(c) for c in contrib.columns]
    return contrib.T.groupby(codes, sort=False).sum().T


def describe(code: str, row: dict[str, Any], index: EventIndex, settings: Settings) -> str:
    """The sentence of one reason code for one vessel-day."""
    if code in RULES:
        return RULES[code].describe(row, index, settings)
    if code.endswith("_change_30d"):
        what = code.removesuffix("_change_30d")
        return f"{what} {_num(row, code):+.1f} h against its own mean of the previous 30 days"
    if code in OTHER:
        return OTHER[code](row)
    return f"{code} = {row.get(code)}"


def evidence_only(contrib: pd.DataFrame, X: pd.DataFrame, baseline: Mapping[str, float],
                  departure_within_km: float = 30.0) -> pd.DataFrame:
    """Contributions with behaviour features zeroed where the vessel shows no more of the
    behaviour than the baseline (see the module docstring), a departure point farther than
    ``departure_within_km`` zeroed (no analyst acts on "came within 200 km"), and unknown
    values zeroed."""
    out = contrib.copy()
    out[X.isna().to_numpy()] = 0.0  # "unknown" is no sentence either
    if "min_distance_to_departure_m" in out.columns:
        far = ~(X["min_distance_to_departure_m"].to_numpy(dtype=np.float64)
                <= departure_within_km * 1000.0)
        out.loc[far, "min_distance_to_departure_m"] = 0.0
    for name in contrib.columns:
        if name not in MORE_IS_EVIDENCE:
            continue
        base = baseline.get(name)
        ref = 0.0 if base is None or not np.isfinite(base) else float(base)
        more = X[name].to_numpy(dtype=np.float64) > ref  # NaN compares False
        out.loc[~more, name] = 0.0
    return out


def explain(contrib: pd.DataFrame, features: pd.DataFrame, events: pd.DataFrame,
            settings: Settings, min_logodds: float = 0.05
            ) -> tuple[list[list[str]], list[list[str]]]:
    """(reason codes, sentences) per row: the strongest positive reason codes first
    (``contrib`` as returned by ``evidence_only``)."""
    grouped = by_reason(contrib)
    names = list(grouped.columns)
    values = grouped.to_numpy()
    # behaviour (a rule's evidence, from the day's events) before descriptors such as length
    # or ship type: both are reported when they drive the score, the behaviour first
    behaviour = np.array([n in RULES or n.endswith("_change_30d") for n in names])
    descriptor = np.broadcast_to(~behaviour, values.shape)
    # per row: reasons above the floor first, then behaviour first, then strongest first
    order = np.lexsort((-values, descriptor, values <= min_logodds), axis=1)
    order = order[:, :settings.scoring.reasons_per_score]
    index = EventIndex(events)
    codes_out: list[list[str]] = []
    text_out: list[list[str]] = []
    rows = features.to_dict("records")
    for i, (row, top) in enumerate(zip(rows, order, strict=True)):  # one per vessel
        picked = [names[k] for k in top.tolist() if values[i, k] > min_logodds]
        codes_out.append(picked)
        text_out.append([describe(c, row, index, settings) for c in picked])
    return codes_out, text_out
