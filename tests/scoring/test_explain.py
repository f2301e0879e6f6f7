"""Reason codes of model scores follow the evidence; metrics and drift on hand-made data."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipeline.config import load_settings
from pipeline.scoring import explain
from pipeline.scoring.dataset import feature_matrix
from pipeline.scoring.drift import psi, reference_histograms
from pipeline.scoring.evaluate import metrics, top_k
from pipeline.scoring.registry import LoadedModel, load_champion
from pipeline.scoring.train import predict
from tests.scoring.conftest import Trained


def _shipped() -> LoadedModel:
    """The champion shipped in models/ (the model `make demo` scores with)."""
    settings = load_settings()
    champion = load_champion(settings)
    assert champion is not None, "models/index.json names no champion"
    return champion


def _reasons(loaded: LoadedModel, rows: pd.DataFrame
             ) -> tuple[list[list[str]], list[list[str]]]:
    base = loaded.metadata["explanation_baseline"]
    X = feature_matrix(rows)
    contrib = explain.contributions(lambda x: predict(loaded.model, x), X, base)
    contrib = explain.evidence_only(contrib, X, base)
    return explain.explain(contrib, rows, pd.DataFrame(), load_settings())


def test_reasons_change_when_the_evidence_changes(trained: Trained) -> None:
    day = date(2024, 11, 21)
    f = trained.sim.lake.read("features", day).to_pandas()
    # an ordinary vessel of the day, then the same vessel-day with a night at a departure
    # point and a silence that began there
    calm = f.sort_values("departure_zone_night_h").iloc[[0]].reset_index(drop=True)
    for col in ("departure_zone_night_h", "dark_gap_near_departure", "dark_gap_count",
                "dark_gap_h", "dark_gap_max_h", "zone_dwell_night_h", "zone_dwell_h"):
        calm[col] = 0
    suspect = calm.copy()
    suspect["departure_zone_night_h"] = 8.0
    suspect["zone_dwell_count"], suspect["zone_dwell_h"] = 1, 9.0
    suspect["zone_dwell_night_h"] = 8.0
    suspect["dark_gap_near_departure"], suspect["dark_gap_count"] = 1, 1
    suspect["dark_gap_h"] = suspect["dark_gap_max_h"] = 20.0
    suspect["dark_gap_max_reception_ratio"] = 0.9
    both = pd.concat([calm, suspect], ignore_index=True)
    loaded = _shipped()
    codes, text = _reasons(loaded, both)
    evidence = {"night_at_departure_h", "dark_after_departure", "deliberate_dark_h"}
    assert not evidence & set(codes[0])
    assert evidence & set(codes[1]), codes[1]
    joined = " ".join(text[1])
    assert "at night inside" in joined or "AIS silent" in joined
    p = predict(loaded.model, feature_matrix(both))
    assert p[1] > p[0]


def test_behaviour_reasons_come_before_descriptors_and_far_distances_are_dropped() -> None:
    """An analyst acts on behaviour: it is listed before descriptors such as length, and
    "came within 200 km of a departure point" is no reason at all."""
    X = pd.DataFrame({"length_m": [20.0, 20.0], "loiter_night_h": [5.0, 5.0],
                      "loiter_h": [6.0, 6.0], "min_distance_to_departure_m": [200_000.0, 5_000.0]})
    contrib = pd.DataFrame({"length_m": [2.0, 2.0], "loiter_night_h": [0.5, 0.5],
                            "loiter_h": [0.1, 0.1], "min_distance_to_departure_m": [1.0, 1.0]})
    kept = explain.evidence_only(contrib, X, {"loiter_night_h": 0.0, "loiter_h": 0.0},
                                 departure_within_km=30)
    assert kept.loc[0, "min_distance_to_departure_m"] == 0.0
    assert kept.loc[1, "min_distance_to_departure_m"] == 1.0
    rows = X.assign(mmsi=[1, 2], loiter_count=[1, 1])
    codes, text = explain.explain(kept, rows, pd.DataFrame(), load_settings())
    assert codes[0] == ["loiter_night_h", "length_m"]
    assert codes[1] == ["loiter_night_h", "length_m", "min_distance_to_departure_m"]
    assert text[1][2] == "came within 5.0 km of a departure point"


def test_occlusion_contribution_is_the_log_odds_change() -> None:
    X = pd.DataFrame({"a": [2.0, 0.0], "b": [5.0, 5.0]})

    def model(x: pd.DataFrame) -> np.ndarray:  # logit = a, b ignored
        return 1 / (1 + np.exp(-x["a"].to_numpy()))

    c = explain.contributions(model, X, {"a": 0.0, "b": 1.0})
    assert np.allclose(c["a"], [2.0, 0.0]) and np.allclose(c["b"], 0.0)


def test_precision_and_recall_at_k_per_day_and_region() -> None:
    frame = pd.DataFrame({
        "date": [date(2025, 1, 1)] * 4 + [date(2025, 1, 2)] * 3,
        "mmsi": [1, 2, 3, 4, 1, 2, 3],
        "region": ["r"] * 7,
        "label": [1, 0, 1, 0, 0, 0, 1],
    })
    score = np.array([0.9, 0.8, 0.1, 0.0, 0.5, 0.4, 0.3])
    days = top_k(frame, score, lambda r: 2)
    assert list(days["hits"]) == [1, 0] and list(days["k"]) == [2, 2]
    m = metrics(frame, score, lambda r: 2)
    assert m["precision_at_k"] == 0.25 and m["recall_at_k"] == round(1 / 3, 4)
    assert m["max_precision_at_k"] == 0.75  # day 1: 2 of 2 possible, day 2: 1 of 2


def test_psi_flags_a_shifted_feature_only() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"steady": rng.normal(0, 1, 5000), "shifted": rng.normal(0, 1, 5000)})
    ref = reference_histograms(train, 10)
    recent = pd.DataFrame({"steady": rng.normal(0, 1, 2000), "shifted": rng.normal(1.5, 1, 2000)})
    rows = {r["feature"]: r for r in psi(ref, recent, 0.25)}
    assert rows["steady"]["psi"] < 0.05 and not rows["steady"]["flagged"]
    assert rows["shifted"]["psi"] > 0.25 and rows["shifted"]["flagged"]
