"""Training and scoring a head on cached embeddings: what train, evaluate, package and sweep share.

`load_splits` reads one split's inputs and targets, `fit` trains the head chosen by `head.name`,
`score_splits` scores a model, and `train_logged` / `log_scores` are the MLflow sequence every
training run follows, so the train and evaluate stages and each sweep job are short callers.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kombat import heads, tracking
from kombat.data import balance_mask, class_weights, clip_starts, window_rows
from kombat.errors import DataError
from kombat.metrics import score
from kombat.schema import BalanceConfig, KombatConfig
from kombat.storage import read_embeddings, read_manifest

HEAD_FILE, RUN_FILE = "head.keras", "run.json"  # what the train stage writes into models/


@dataclass
class Split:
    """One split's targets: their windows of the last `head.window` ticks (row indices into `features`,
    the embeddings of every row, shared by the splits) and their class indices. Windows are gathered
    batch by batch (`x` gathers them all), so memory holds each embedding once, not once per window."""

    name: str
    features: np.ndarray  # (rows, embedding size): every row's embedding
    windows: np.ndarray  # (N, window): each target's window of rows, oldest first
    y: np.ndarray  # (N,) class indices

    @classmethod
    def from_windows(cls, name: str, x: np.ndarray, y: np.ndarray) -> Split:
        """A split of ready-made head inputs (N, window, D): each window's ticks its own rows."""
        n, window, size = x.shape
        return cls(name, x.reshape(n * window, size), np.arange(n * window).reshape(n, window), np.asarray(y))

    def __len__(self) -> int:
        return len(self.y)

    def gather(self, targets: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The head's inputs (n, window, embedding size) for some of the targets."""
        windows = self.windows[targets]
        return np.asarray(self.features[windows.ravel()]).reshape(*windows.shape, -1)

    @property
    def x(self) -> np.ndarray:
        return self.gather()


def target_rows(manifest: pd.DataFrame, balance: BalanceConfig, assigned: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each split's target rows. Training: its balanced frames (`target`), every augmented copy. Validation
    and test: every labelled frame of the clips as recorded (copy 0). `assigned` (each row's split, '' for
    none) replaces the manifest's split, as cross-validation's folds do: training then takes
    the labelled frames of its groups as the balance stage takes the manifest's training split
    (`balance.method`, seeded)."""
    labelled = (manifest["label"] != "").to_numpy()
    original = (manifest["copy"] == 0).to_numpy() if "copy" in manifest else np.ones(len(manifest), bool)
    if assigned is None:
        split = manifest["split"].to_numpy()
        train = manifest["target"].astype(bool).to_numpy() if "target" in manifest else labelled
    else:
        split = np.asarray(assigned)
        train = balance_mask(manifest.assign(split=split), ["train"], balance.seed, balance.method)
    return {"train": np.flatnonzero((split == "train") & train),
            "val": np.flatnonzero((split == "val") & labelled & original),
            "test": np.flatnonzero((split == "test") & labelled & original)}


def read_features(embeddings_dir: Path, cfg: KombatConfig) -> tuple[np.ndarray, pd.DataFrame]:
    """Every row's embedding (the input chosen by `embed.input`, at `embed.layer`), in memory, and the manifest."""
    embeddings, manifest = read_embeddings(embeddings_dir, cfg.embed.input_parts, cfg.embed.layer)
    return np.ascontiguousarray(embeddings, dtype=np.float32), manifest


def make_splits(features: np.ndarray, manifest: pd.DataFrame, cfg: KombatConfig, names=("train", "val", "test"),
                assigned: np.ndarray | None = None) -> dict[str, Split]:
    """For each target frame of each split (target_rows), its window of the last `head.window` ticks and its class."""
    starts = clip_starts(manifest)
    rows = target_rows(manifest, cfg.balance, assigned)
    labels = manifest["label"].to_numpy()
    splits = {}
    for name in names:
        if not len(rows[name]):
            raise DataError(f"no {name} frames in the embeddings (check split.* and the actors in the data)")
        splits[name] = Split(name, features, window_rows(starts, rows[name], cfg.head.window),
                             cfg.task_spec.encode(labels[rows[name]]))
    return splits


def load_splits(embeddings_dir: Path, cfg: KombatConfig, names=("train", "val", "test")) -> dict[str, Split]:
    """The pipeline's splits (make_splits) of the cached embeddings."""
    return make_splits(*read_features(embeddings_dir, cfg), cfg, names)


def data_fingerprint(embeddings_dir: Path, cfg: KombatConfig) -> str:
    """The embeddings this config trains on (logged as `data_fingerprint`)."""
    return tracking.embeddings_fingerprint(embeddings_dir, cfg.embed.input_parts, cfg.embed.layer)


@dataclass
class FitResult:
    model: object
    history: dict[str, list[float]]
    best_epoch: int


def batches(split: Split, batch_size: int, weights: list[float], seed: int):
    """The training split as a Keras PyDataset: shuffled batches of (windows, classes, class weights),
    gathered as they are needed, in a seeded order that changes every epoch."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(split))
            self.weight = np.array(weights, np.float32)  # each class's weight

        def __len__(self) -> int:
            return -(-len(split) // batch_size)

        def __getitem__(self, index: int):
            picked = np.sort(self.order[index * batch_size:(index + 1) * batch_size])
            return split.gather(picked), split.y[picked], self.weight[split.y[picked]]

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(split))

    return Batches()


@contextlib.contextmanager
def interrupt_between_batches():
    """Ctrl-C (SIGINT) during training: a Keras callback that raises KeyboardInterrupt at the end of the
    batch it arrived in, instead of wherever Python next looks (inside TensorFlow's data or step
    machinery, which once aborted the process); a second Ctrl-C raises at once. Outside the main thread,
    or where SIGINT is ignored: no change."""
    import keras

    asked = threading.Event()

    class StopAtBatchEnd(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if asked.is_set():
                raise KeyboardInterrupt

        on_test_batch_end = on_predict_batch_end = on_epoch_end = on_train_batch_end

    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is signal.SIG_IGN:
        yield StopAtBatchEnd()
        return

    def ask(signum, frame):
        if asked.is_set():  # the second Ctrl-C: at once
            raise KeyboardInterrupt
        asked.set()

    signal.signal(signal.SIGINT, ask)
    try:
        yield StopAtBatchEnd()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    if asked.is_set():  # it arrived after the last batch
        raise KeyboardInterrupt


def one_thread_per_op() -> None:
    """Each TensorFlow op on one thread (ops still run side by side, one per core): the head's ops are
    small, and splitting each across the cores cost more than it saved (docs/performance.md).
    TensorFlow takes the setting only before its first op; in a process that ran one already (a test
    session, a model loaded first) it stays as it was, and the sums round in another order."""
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(1)


def fit(cfg: KombatConfig, train: Split, val: Split, callbacks: list | None = None, verbose: int = 2) -> FitResult:
    """Train the head on `train`, early-stopped on `val`'s loss (best weights kept)."""
    import keras

    one_thread_per_op()
    keras.utils.set_random_seed(cfg.train.seed)
    seen = train.features[np.unique(train.windows)] if cfg.head.standardize else None  # every row training sees
    model = heads.build(cfg, train.windows.shape[1:] + train.features.shape[1:], seen)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.train.patience, restore_best_weights=True)
    weights = class_weights(np.bincount(train.y, minlength=len(cfg.classes)).tolist())  # the task's classes (punch_binary's 2)
    data = batches(train, cfg.train.batch_size, weights, cfg.train.seed)
    with interrupt_between_batches() as interrupt:
        history = model.fit(data, validation_data=(val.x, val.y), epochs=cfg.train.epochs,
                            callbacks=[stop, *(callbacks or []), interrupt], verbose=verbose)
    losses = history.history["val_loss"]
    return FitResult(model, {k: [float(v) for v in vs] for k, vs in history.history.items()},
                     best_epoch=int(np.argmin(losses)) + 1)


def predict_proba(model, x: np.ndarray, cfg: KombatConfig) -> np.ndarray:
    """(N, n_classes) probabilities in the task's class order."""
    return cfg.task_spec.probabilities(model.predict(x, batch_size=1024, verbose=0))


def predict_classes(model, split: Split, cfg: KombatConfig, batch: int = 4096) -> np.ndarray:
    return np.concatenate([predict_proba(model, split.gather(slice(i, i + batch)), cfg).argmax(axis=1)
                           for i in range(0, len(split), batch)])


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
