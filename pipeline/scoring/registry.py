"""The model registry: ``models/<model_id>/`` folders and ``models/index.json``.

Each folder holds ``model.skops`` (the fitted Pipeline, never a pickle), ``metadata.json``
(features, features schema version, library versions, training window, data hash, metrics,
explanation baseline, drift reference histograms), ``card.md`` and the PNG plots. The model
id is derived from the content that determines the model (features, schema, scikit-learn
version, hyper-parameters, label sources, training data hash), so retraining the same data
with the same settings gives the same id. ``index.json`` names the champion and keeps the
history of promotions (with forced promotions' reasons).

Loading uses ``skops.io.get_untrusted_types`` and refuses any type outside ``TRUSTED_TYPES``
(no blanket trust); a model whose feature list, features schema version or scikit-learn
version differs from the running code is refused with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops
import skops.io as sio
from sklearn.pipeline import Pipeline

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.scoring.dataset import FEATURE_COLUMNS, features_schema_version

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
INDEX = "index.json"
MODEL_FILE = "model.skops"
META_FILE = "metadata.json"
CARD_FILE = "card.md"

# Types skops does not trust by default that our pipelines contain: nothing else loads.
TRUSTED_TYPES = frozenset({
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.model_selection._split.GroupKFold",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.utils._bunch.Bunch",
})


class ModelRefused(UserError):
    """A model that cannot be used safely with the running code (features, versions, types)."""


def models_dir(settings: Settings) -> Path:
    """``scoring.models_dir`` (env VESSEL_RISK__SCORING__MODELS_DIR) or the repo's models/."""
    return Path(settings.scoring.models_dir) if settings.scoring.models_dir else REPO_MODELS


def libraries() -> dict[str, str]:
    import pandas
    import pyarrow

    return {"scikit-learn": sklearn.__version__, "skops": skops.__version__,
            "numpy": np.__version__, "pandas": pandas.__version__,
            "pyarrow": pyarrow.__version__}


def model_id_for(spec: dict[str, Any]) -> str:
    """``hgb-<hash>`` of what determines the fitted model."""
    return "hgb-" + hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()
                                   ).hexdigest()[:12]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; the registry is read by other users/workers
    os.replace(tmp, path)


def write_json(path: Path, doc: Any) -> None:
    _atomic_write(path, (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
                         ).encode())


def save_model(root: Path, model_id: str, model: Pipeline, meta: dict[str, Any]) -> Path:
    """Write model.skops and metadata.json into ``root/<model_id>/`` (replacing them)."""
    folder = root / model_id
    _atomic_write(folder / MODEL_FILE, sio.dumps(model, compression=zipfile.ZIP_DEFLATED,
                                                  compresslevel=9))
    write_json(folder / META_FILE, {**meta, "model_id": model_id})
    return folder


def read_index(root: Path) -> dict[str, Any]:
    path = root / INDEX
    if not path.exists():
        return {"champion": None, "history": []}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def read_metadata(root: Path, model_id: str) -> dict[str, Any]:
    path = root / model_id / META_FILE
    if "/" in model_id or "\\" in model_id or model_id.startswith(".") or not path.exists():
        known = ", ".join(list_ids(root)) or "none"
        raise UserError(f"model {model_id!r} is not in {root} (known: {known})")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def list_ids(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / META_FILE).exists())


def list_models(root: Path) -> list[dict[str, Any]]:
    """One summary per registered model, the champion marked."""
    champ = read_index(root).get("champion")
    out = []
    for mid in list_ids(root):
        meta = read_metadata(root, mid)
        ev = meta.get("evaluation", {}).get("models", {}).get("model", {})
        out.append({"model_id": mid, "champion": mid == champ,
                    "trained_at": meta.get("trained_at"),
                    "window": meta.get("training", {}).get("window"),
                    "label_sources": meta.get("training", {}).get("label_sources"),
                    "pr_auc": ev.get("pr_auc"), "precision_at_k": ev.get("precision_at_k"),
                    "recall_at_k": ev.get("recall_at_k")})
    return out


@dataclass
class LoadedModel:
    model_id: str
    model: Pipeline
    metadata: dict[str, Any]


def check_compatible(meta: dict[str, Any]) -> None:
    """Refuse a model the running code cannot feed exactly as it was trained."""
    mid = meta.get("model_id")
    if list(meta.get("features", [])) != list(FEATURE_COLUMNS):
        raise ModelRefused(f"model {mid}: its feature list differs from the features this "
                           f"version computes; retrain it (`vessel-risk train`)")
    if meta.get("features_schema_version") != features_schema_version():
        raise ModelRefused(f"model {mid}: trained on features schema "
                           f"{meta.get('features_schema_version')}, this version has "
                           f"{features_schema_version()}; retrain it (`vessel-risk train`)")
    trained = meta.get("libraries", {}).get("scikit-learn")
    if trained != sklearn.__version__:
        raise ModelRefused(f"model {mid}: saved with scikit-learn {trained}, running "
                           f"{sklearn.__version__}; install scikit-learn=={trained} or "
                           f"retrain the model")


def load_model(root: Path, model_id: str) -> LoadedModel:
    """Load a registered model: compatibility checked first, then only trusted types."""
    meta = read_metadata(root, model_id)
    check_compatible(meta)
    path = root / model_id / MODEL_FILE
    untrusted = sio.get_untrusted_types(file=path)
    unknown = sorted(set(untrusted) - TRUSTED_TYPES)
    if unknown:
        raise ModelRefused(f"model {model_id}: {path} contains types outside the trusted "
                           f"list: {unknown}; it was not written by this pipeline")
    model = sio.load(path, trusted=list(untrusted))
    if not isinstance(model, Pipeline):
        raise ModelRefused(f"model {model_id}: {path} does not hold a scikit-learn Pipeline")
    return LoadedModel(model_id, model, meta)


def champion_id(root: Path) -> str | None:
    champ = read_index(root).get("champion")
    return str(champ) if champ else None


def load_champion(settings: Settings) -> LoadedModel | None:
    """The promoted champion, or None when no model has been promoted yet."""
    root = models_dir(settings)
    mid = champion_id(root)
    return load_model(root, mid) if mid else None


def promote(root: Path, model_id: str, margin: float, force: bool = False,
            reason: str | None = None, actor: str | None = None) -> dict[str, Any]:
    """Make ``model_id`` the champion if it beat the current champion on the same held-out
    window by ``margin`` (PR-AUC), or when forced with a reason. Returns the history entry."""
    meta = read_metadata(root, model_id)
    check_compatible(meta)
    index = read_index(root)
    current = index.get("champion")
    if current == model_id:
        raise UserError(f"model {model_id} is already the champion")
    comp = meta.get("evaluation", {}).get("comparison", {})
    mine = comp.get("challenger_pr_auc")
    theirs = comp.get("champion_pr_auc")
    if force:
        if not reason or not reason.strip():
            raise UserError("--force needs --reason: say why the gate is overridden")
        verdict = "forced"
    elif current is None:
        verdict = "first champion"
    elif comp.get("champion_id") != current:
        raise UserError(
            f"model {model_id} was not compared with the current champion {current} "
            f"(compared with {comp.get('champion_id') or 'none'}); run `vessel-risk evaluate "
            f"--model {model_id}` on a held-out window first, or --force --reason")
    elif mine is None or theirs is None or mine < theirs + margin:
        raise UserError(
            f"model {model_id} does not beat champion {current} on window "
            f"{comp.get('window')}: PR-AUC {mine} vs {theirs} (needs +{margin}); "
            f"not promoted (override with --force --reason)")
    else:
        verdict = f"beat {current}: PR-AUC {mine} vs {theirs} (margin {margin})"
    entry = {"model_id": model_id, "previous": current,
             "at": datetime.now(UTC).isoformat(timespec="seconds"), "verdict": verdict,
             "forced": force, "reason": reason, "actor": actor or os.environ.get("USER"),
             "comparison": comp}
    index["champion"] = model_id
    index.setdefault("history", []).append(entry)
    write_json(root / INDEX, index)
    return entry
