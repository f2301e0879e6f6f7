"""Vessel-day features joined to labels, and the splits that keep evaluation honest.

- The model sees the numeric columns of ``lake/features`` (``FEATURE_COLUMNS``): no
  identifiers, no names, no positions (a model must not learn *where* a vessel was, it would
  not travel to another region).
- Labels come resolved one per vessel-day (pipeline.labels.build.resolve_labels); training
  rows only get labels known before the held-out window begins (``as_of``), so nothing a PIU
  learned later leaks into training.
- ``time_split``: the held-out window is the last ``test_days`` days; ``gap_days`` before it
  are dropped; vessels are split into a training and a held-out group by a hash of the MMSI
  (``test_vessel_share`` of them held out), so no vessel is in both train and test (a fleet
  that sails every day would otherwise leave nothing to train on).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.labels.build import resolve_labels
from pipeline.lake import Lake
from pipeline.schemas import FEATURES

# Columns of lake/features that are not evidence: identity, time and place.
NOT_FEATURES = frozenset({
    "mmsi", "date", "region", "first_seen", "last_seen", "transceiver_class", "name",
    "call_sign", "imo", "dark_gap_max_lat", "dark_gap_max_lon",
})
DERIVED = ("is_class_b",)


def _numeric(field: pa.Field) -> bool:
    t = field.type
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


FEATURE_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in FEATURES if f.name not in NOT_FEATURES and _numeric(f)) + DERIVED


def features_schema_version() -> str:
    """Hash of the features schema (names and types): a model trained on another schema
    is refused."""
    spec = [(f.name, str(f.type)) for f in FEATURES] + [("derived", ",".join(DERIVED))]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:12]


def feature_matrix(features: pd.DataFrame) -> pd.DataFrame:
    """The model's input: float columns in ``FEATURE_COLUMNS`` order (NaN = unknown)."""
    cols = {}
    for name in FEATURE_COLUMNS:
        if name == "is_class_b":
            cls = features["transceiver_class"]
            cols[name] = np.where(cls.isna(), np.nan, (cls == "B").astype("float64"))
        else:
            cols[name] = pd.to_numeric(features[name], errors="coerce").astype("float64")
    return pd.DataFrame(cols, index=features.index)


def data_hash(frame: pd.DataFrame) -> str:
    """Content hash of a feature/label frame (order-independent: rows sorted first)."""
    keyed = frame.sort_values(["date", "mmsi"]).reset_index(drop=True)
    digest = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return hashlib.sha256(digest.tobytes()).hexdigest()[:16]


def load_features(lakes: Sequence[Lake], start: date | None = None, end: date | None = None,
                  regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Feature rows of every lake in [start, end] (all dates when None), optionally only
    of the given regions."""
    parts = []
    for lake in lakes:
        days = lake.dates("features")
        if not days:
            continue
        lo = start or days[0]
        hi = end or days[-1]
        if lo > hi:
            continue
        parts.append(lake.read("features", lo, hi).to_pandas())
    if not parts:
        return FEATURES.empty_table().to_pandas()
    frame = pd.concat(parts, ignore_index=True)
    if regions:
        frame = frame[frame["region"].isin(list(regions))]
    return frame.sort_values(["date", "mmsi"]).reset_index(drop=True)


@dataclass
class LabelledSet:
    """Feature rows with one label each (``label``, ``weight``, ``label_source``)."""

    frame: pd.DataFrame

    @property
    def X(self) -> pd.DataFrame:
        return feature_matrix(self.frame)

    @property
    def y(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        return self.frame["mmsi"].to_numpy(dtype=np.int64)

    @property
    def window(self) -> tuple[date | None, date | None]:
        if self.frame.empty:
            return None, None
        return self.frame["date"].min(), self.frame["date"].max()

    def counts(self) -> dict[str, int]:
        f = self.frame
        out = {"vessel_days": len(f), "positives": int(f["label"].sum()),
               "vessels": int(f["mmsi"].nunique())}
        for src, n in f["label_source"].value_counts().sort_index().items():
            out[f"from_{src}"] = int(n)
        return out

    def hash(self) -> str:
        return data_hash(self.frame[["mmsi", "date", "label", *FEATURE_COLUMNS[:-1]]])


def join_labels(features: pd.DataFrame, labels: pa.Table, sources: Sequence[str],
                as_of: date | None, unlabelled_as_negative: bool) -> LabelledSet:
    """Features with the label each vessel-day had by ``as_of`` (None: every label)."""
    resolved = resolve_labels(labels, as_of, sources)[["mmsi", "date", "label", "weight",
                                                       "source"]]
    f = features.merge(resolved.rename(columns={"source": "label_source"}),
                       on=["mmsi", "date"], how="left")
    if unlabelled_as_negative:
        f["label_source"] = f["label_source"].fillna("unlabelled")
        f["label"] = f["label"].fillna(0)
        f["weight"] = f["weight"].fillna(1.0)
    else:
        f = f[f["label"].notna()]
    f["label"] = f["label"].astype("int64")
    return LabelledSet(f.reset_index(drop=True))


@dataclass
class Split:
    train: LabelledSet
    test: LabelledSet
    test_start: date
    test_end: date


def held_out_vessels(mmsi: pd.Series, share: float) -> np.ndarray:
    """True for the vessels of the held-out group: a stable hash of the MMSI, so a vessel is
    in the same group in every run."""
    h = pd.util.hash_pandas_object(mmsi.astype("int64"), index=False).to_numpy()
    return (h % np.uint64(10_000)).astype(np.float64) < share * 10_000


def time_split(features: pd.DataFrame, labels: pa.Table, sources: Sequence[str],
               test_days: int, gap_days: int, test_vessel_share: float = 0.5,
               unlabelled_as_negative: bool = True) -> Split:
    """Train on the training vessels' days before the held-out window (labels known by
    then), test on the held-out vessels' last ``test_days`` days (every label)."""
    if features.empty:
        raise ValueError("no feature rows to split")
    days = sorted(features["date"].unique())
    if len(days) <= test_days + gap_days:
        raise ValueError(f"{len(days)} days of features: too few for a {test_days}-day "
                         f"held-out window and a {gap_days}-day gap")
    test_start = days[-test_days]
    train_end = test_start - timedelta(days=gap_days + 1)
    held = held_out_vessels(features["mmsi"], test_vessel_share)
    test_f = features[(features["date"] >= test_start) & held]
    train_f = features[(features["date"] <= train_end) & ~held]
    train = join_labels(train_f, labels, sources, train_end, unlabelled_as_negative)
    test = join_labels(test_f, labels, sources, None, unlabelled_as_negative)
    return Split(train, test, test_start, days[-1])
