"""Training sets without leakage: time-based split, vessels grouped, labels as known then."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from pipeline.labels.build import build_labels
from pipeline.labels.ground_truth import read_ground_truth
from pipeline.scoring.dataset import (
    FEATURE_COLUMNS,
    feature_matrix,
    load_features,
    time_split,
)
from pipeline.scoring.simdata import SimLake


def test_features_carry_no_identity_or_place() -> None:
    for col in ("mmsi", "date", "name", "call_sign", "imo", "region", "dark_gap_max_lat",
                "dark_gap_max_lon", "first_seen"):
        assert col not in FEATURE_COLUMNS
    assert "departure_zone_night_h" in FEATURE_COLUMNS and "is_class_b" in FEATURE_COLUMNS


def test_split_is_time_based_grouped_and_uses_labels_known_then(sim_lake: SimLake) -> None:
    features = load_features([sim_lake.lake])
    truth = read_ground_truth([sim_lake.root / "landing"])
    split = time_split(features, truth, ["simulator"], test_days=1, gap_days=1)
    train, test = split.train.frame, split.test.frame
    assert split.test_start == date(2024, 11, 21)
    assert train["date"].max() <= date(2024, 11, 19)  # one gap day dropped
    assert set(test["date"]) == {date(2024, 11, 21)}
    assert not set(train["mmsi"]) & set(test["mmsi"])
    assert split.train.y.sum() > 0 and split.test.y.sum() > 0
    # a label learned only after the training window must not reach training
    late = truth.to_pandas()
    late["known_from"] = date(2024, 11, 25)
    lab = build_labels(ground_truth=read_ground_truth([sim_lake.root / "landing"]))
    late_table = lab.set_column(lab.schema.get_field_index("known_from"), "known_from",
                                pa.array(late["known_from"]))
    blind = time_split(features, late_table, ["simulator"], test_days=1, gap_days=1)
    assert blind.train.y.sum() == 0 and set(blind.train.frame["label_source"]) == {"unlabelled"}
    assert blind.test.y.sum() == split.test.y.sum()  # evaluation sees every label


def test_feature_matrix_is_float_with_nan_for_unknown() -> None:
    f = pd.DataFrame({c: [1.0, None] for c in FEATURE_COLUMNS if c != "is_class_b"})
    f["transceiver_class"] = ["B", None]
    X = feature_matrix(f)
    assert list(X.columns) == list(FEATURE_COLUMNS)
    assert X["is_class_b"].iloc[0] == 1.0 and pd.isna(X["is_class_b"].iloc[1])
    assert X.isna().iloc[1].all()


def test_incident_labels_from_the_simulated_reports_point_at_smugglers(sim_lake: SimLake
                                                                       ) -> None:
    from pipeline.config import load_settings
    from pipeline.scoring.lifecycle import DataSpec, labels_for

    settings = load_settings()
    spec = DataSpec(lakes=[sim_lake.lake], label_sources=["incident"])
    features = load_features([sim_lake.lake])
    labels = labels_for(spec, settings, features).to_pandas()
    assert len(labels) and set(labels["source"]) == {"incident"}
    assert labels["provenance"].str.startswith("incident ").all()
    assert (labels["known_from"] >= labels["date"]).all()  # learned after the fact
    truth = read_ground_truth([sim_lake.root / "landing"]).to_pandas()
    smugglers = set(truth.loc[truth["label"] == 1, "mmsi"])
    # the reports name vessels that really took part (names and MMSIs may be wrong: most,
    # not all)
    assert labels["mmsi"].isin(smugglers).mean() >= 0.5
