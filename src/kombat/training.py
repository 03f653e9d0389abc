"""Training and scoring a head on cached embeddings: what train, evaluate, package and sweep share.

`load_splits` reads one split's inputs and targets, `fit` trains the head chosen by `head.name`,
`score_splits` scores a model, and `train_logged` / `log_scores` are the MLflow sequence every
training run follows, so the train and evaluate stages and each sweep job are short callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kombat import heads, tracking
from kombat.data import clip_starts, window_rows
from kombat.errors import DataError
from kombat.metrics import score
from kombat.schema import KombatConfig
from kombat.storage import file_digest, read_embeddings, read_manifest

HEAD_FILE, RUN_FILE = "head.keras", "run.json"  # what the train stage writes into models/


@dataclass
class Split:
    """One split's head inputs (N, window, embedding size) and class indices (N,)."""

    name: str
    x: np.ndarray
    y: np.ndarray


def load_splits(embeddings_dir: Path, cfg: KombatConfig, names=("train", "val", "test")) -> dict[str, Split]:
    """For each target frame of each split, the embeddings of its last `head.window` ticks (the input
    chosen by `embed.input`, at `embed.layer`) and its class. Targets: the balanced training frames,
    and every labelled frame of the other splits."""
    embeddings, manifest = read_embeddings(embeddings_dir, cfg.embed.input_parts, cfg.embed.layer)
    starts = clip_starts(manifest)
    targets = manifest["target"].astype(bool).to_numpy() if "target" in manifest else \
        (manifest["label"] != "").to_numpy()
    splits = {}
    for name in names:
        rows = np.flatnonzero((manifest["split"] == name).to_numpy() & targets)
        if not len(rows):
            raise DataError(f"no {name} frames in the embeddings (check split.* and the actors in the data)")
        windows = window_rows(starts, rows, cfg.head.window)
        splits[name] = Split(name, np.asarray(embeddings[windows.ravel()]).reshape(*windows.shape, -1),
                             cfg.task_spec.encode(manifest["label"].to_numpy()[rows]))
    return splits


def data_fingerprint(embeddings_dir: Path, cfg: KombatConfig) -> str:
    """The embeddings this config trains on (logged as `data_fingerprint`)."""
    files = [Path(embeddings_dir) / kind / f"{cfg.embed.layer}.npy" for kind in cfg.embed.input_parts]
    return file_digest(*files, Path(embeddings_dir) / "manifest.csv")


def class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """Inverse-frequency weights, so an unbalanced task (punch_binary) does not favour the majority."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return {i: float(len(y) / (n_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


@dataclass
class FitResult:
    model: object
    history: dict[str, list[float]]
    best_epoch: int


def fit(cfg: KombatConfig, train: Split, val: Split, callbacks: list | None = None, verbose: int = 2) -> FitResult:
    """Train the head on `train`, early-stopped on `val`'s loss (best weights kept)."""
    import keras

    keras.utils.set_random_seed(cfg.train.seed)
    model = heads.build(cfg, train.x.shape[1:])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.train.patience, restore_best_weights=True)
    history = model.fit(train.x, train.y, validation_data=(val.x, val.y), epochs=cfg.train.epochs,
                        batch_size=cfg.train.batch_size, shuffle=True,
                        class_weight=class_weights(train.y, len(cfg.classes)),
                        callbacks=[stop, *(callbacks or [])], verbose=verbose)
    losses = history.history["val_loss"]
    return FitResult(model, {k: [float(v) for v in vs] for k, vs in history.history.items()},
                     best_epoch=int(np.argmin(losses)) + 1)


def predict_proba(model, x: np.ndarray, cfg: KombatConfig) -> np.ndarray:
    """(N, n_classes) probabilities in the task's class order."""
    return cfg.task_spec.probabilities(model.predict(x, batch_size=1024, verbose=0))


def predict_classes(model, split: Split, cfg: KombatConfig) -> np.ndarray:
    return predict_proba(model, split.x, cfg).argmax(axis=1)


def score_splits(model, splits: dict[str, Split], cfg: KombatConfig) -> dict[str, float]:
    """Test figures under their own names, validation figures as `val_*` (models are chosen by those)."""
    scores = {}
    for name, prefix in (("test", ""), ("val", "val_")):
        if name in splits:
            split_scores = score(splits[name].y, predict_classes(model, splits[name], cfg), cfg.classes)
            scores.update({f"{prefix}{k}": v for k, v in split_scores.items()})
    return scores


def epoch_logger():
    """A Keras callback that logs each epoch's figures to the active MLflow run."""
    import keras
    import mlflow

    class EpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            # epoch_* so the curves never shadow evaluate's accuracy / val_* figures of the same run
            mlflow.log_metrics({f"epoch_{k}": float(v) for k, v in (logs or {}).items()}, step=epoch + 1)

    return EpochLogger()


def train_logged(cfg: KombatConfig, embeddings_dir: Path, splits: dict[str, Split],
                 extra_params: dict | None = None, verbose: int = 2) -> FitResult:
    """Inside an active MLflow run: log the params, fit, and log the head as a package candidate."""
    import mlflow

    fingerprint = data_fingerprint(embeddings_dir, cfg)
    mlflow.log_params({**tracking.run_params(cfg), "data_fingerprint": fingerprint, **(extra_params or {})})
    tracking.log_data_inputs(cfg, read_manifest(embeddings_dir), fingerprint)
    result = fit(cfg, splits["train"], splits["val"], callbacks=[epoch_logger()], verbose=verbose)
    mlflow.log_metric("best_epoch", result.best_epoch)
    tracking.log_candidate(cfg, result.model, embeddings_dir)
    return result
