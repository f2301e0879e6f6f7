"""Model training: a calibrated HistGradientBoostingClassifier and a logistic reference.

- ``build_model``: ``Pipeline([("classifier", CalibratedClassifierCV(HGB))])``. The gradient
  boosting handles missing values natively (NaN = "unknown", e.g. no static data); class
  imbalance (a few smuggling vessel-days among hundreds) is handled with
  ``class_weight="balanced"``; probabilities are calibrated on out-of-fold predictions whose
  folds are grouped by MMSI (``GroupKFold``: a vessel never calibrates on itself), and
  ``ensemble=False`` keeps one boosted model (a small file). scikit-learn 1.9 does not route
  ``groups`` to the splitter when ``ensemble=False``, so ``fit`` hands the calibrator the
  GroupKFold splits themselves and records ``GroupKFold(n)`` as its ``cv`` afterwards.
- ``build_reference``: imputer + scaler + ``LogisticRegression`` (balanced), trained beside it
  as the linear yardstick.
Both follow scikit-learn's estimator rules: hyper-parameters come from the settings into
constructors, everything learnt lives in fitted attributes, ``clone`` works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.config import ModelSettings
from pipeline.errors import UserError
from pipeline.scoring.dataset import LabelledSet


def build_model(cfg: ModelSettings) -> Pipeline:
    """The unfitted challenger pipeline (hyper-parameters from the ``scoring.model`` settings)."""
    hgb = HistGradientBoostingClassifier(
        learning_rate=cfg.learning_rate, max_iter=cfg.max_iter,
        max_leaf_nodes=cfg.max_leaf_nodes, min_samples_leaf=cfg.min_samples_leaf,
        l2_regularization=cfg.l2_regularization,
        class_weight=None if cfg.class_weight == "none" else cfg.class_weight,
        early_stopping=False, random_state=cfg.random_state)
    calibrated = CalibratedClassifierCV(hgb, method=cfg.calibration,
                                        cv=GroupKFold(n_splits=cfg.calibration_folds),
                                        ensemble=False)
    return Pipeline([("classifier", calibrated)])


def build_reference(cfg: ModelSettings) -> Pipeline:
    """The logistic-regression reference: median imputation, scaling, balanced classes."""
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True,
                                 keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("classifier", LogisticRegression(
            C=cfg.logistic_c, class_weight=None if cfg.class_weight == "none"
            else cfg.class_weight, max_iter=2000)),
    ])


@dataclass
class Trained:
    model: Pipeline
    reference: Pipeline


def _check(data: LabelledSet, folds: int) -> None:
    y = data.y
    pos = int(y.sum())
    vessels_pos = data.frame.loc[y == 1, "mmsi"].nunique()
    if pos == 0 or pos == len(y):
        raise UserError(f"the training window has {pos} positive vessel-days of {len(y)}: "
                        f"both classes are needed (add label sources or widen the window)")
    if vessels_pos < folds or data.frame["mmsi"].nunique() < folds:
        raise UserError(f"{vessels_pos} vessels with a positive label: calibration needs at "
                        f"least scoring.model.calibration_folds = {folds}")


def fit(data: LabelledSet, cfg: ModelSettings) -> Trained:
    """Fit the challenger and the logistic reference on a labelled set."""
    _check(data, cfg.calibration_folds)
    X, y = data.X, data.y
    model = build_model(cfg)
    cal = model.named_steps["classifier"]
    splits = list(GroupKFold(n_splits=cfg.calibration_folds).split(X, y, data.groups))
    cal.set_params(cv=splits)
    model.fit(X, y)
    cal.set_params(cv=GroupKFold(n_splits=cfg.calibration_folds))  # what the splits were
    reference = build_reference(cfg).fit(X, y)
    return Trained(model, reference)


def hgb_of(model: Pipeline) -> HistGradientBoostingClassifier:
    """The fitted boosted trees inside the calibrated pipeline (for explanations)."""
    cal: CalibratedClassifierCV = model.named_steps["classifier"]
    est = cal.calibrated_classifiers_[0].estimator
    assert isinstance(est, HistGradientBoostingClassifier)
    return est


def predict(model: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """Calibrated probability of the positive class."""
    return np.asarray(model.predict_proba(X)[:, 1], dtype=np.float64)
