"""Train: the dense head on the chosen layer's embeddings, one MLflow run per training.

Early stopping watches the validation actors (never the test actors). The run logs the params
users compare runs by (layer, units, lr, ...), the data fingerprint, the git commit and the
per-epoch curves; `evaluate` adds the held-out scores to the same run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kombat import tracking
from kombat.cli import stage_main
from kombat.config import KombatConfig
from kombat.errors import DataError
from kombat.head import encode_labels, fit_head
from kombat.io import atomic_write_text, file_digest, read_embeddings, write_json

HEAD_FILE, RUN_FILE = "head.keras", "run.json"


def split_xy(embeddings: np.ndarray, manifest: pd.DataFrame, split: str, cfg: KombatConfig) -> tuple[np.ndarray, np.ndarray]:
    rows = (manifest["split"] == split).to_numpy()
    if not rows.any():
        raise DataError(f"no {split} frames in the embeddings (check split.* and the actors in the data)")
    return embeddings[rows], encode_labels(manifest.loc[rows, "label"], cfg.task.name)


def mlflow_epoch_logger():
    import keras
    import mlflow

    class EpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            # epoch_* so the curves never shadow evaluate's accuracy / val_* figures of the same run
            mlflow.log_metrics({f"epoch_{k}": float(v) for k, v in (logs or {}).items()}, step=epoch + 1)

    return EpochLogger()


def run(cfg: KombatConfig, embeddings_dir: Path, model_dir: Path, metrics_dir: Path) -> str:
    import mlflow

    embeddings, manifest = read_embeddings(embeddings_dir, cfg.embed.layer)
    x_train, y_train = split_xy(embeddings, manifest, "train", cfg)
    x_val, y_val = split_xy(embeddings, manifest, "val", cfg)
    fingerprint = file_digest(embeddings_dir / f"{cfg.embed.layer}.npy", embeddings_dir / "manifest.csv")
    tags = {"kombat.kind": "pipeline", "mlflow.source.git.commit": tracking.git_commit()}
    with tracking.run_context(cfg, run_name=f"pipeline {cfg.embed.layer} u{cfg.head.units} lr{cfg.train.lr:g}",
                              tags=tags) as active:
        mlflow.log_params({**tracking.run_params(cfg), "data_fingerprint": fingerprint})
        result = fit_head(cfg, x_train, y_train, x_val, y_val, callbacks=[mlflow_epoch_logger()])
        mlflow.log_metric("best_epoch", result.best_epoch)
        tracking.log_candidate(cfg, result.model, embeddings_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        tmp_model = model_dir / f".{HEAD_FILE}.tmp.keras"
        result.model.save(tmp_model)
        tmp_model.replace(model_dir / HEAD_FILE)
        write_json(model_dir / RUN_FILE, {"run_id": active.info.run_id, "experiment": cfg.mlflow.experiment,
                                          "layer": cfg.embed.layer, "classes": list(cfg.classes),
                                          "data_fingerprint": fingerprint})
    history = pd.DataFrame(result.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    metrics_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(metrics_dir / "train_history.csv", history.to_csv(index=False))
    return (f"{len(x_train)} train / {len(x_val)} val embeddings ({cfg.embed.layer}), {len(history)} epochs, "
            f"best {result.best_epoch} (val_loss {min(result.history['val_loss']):.3f}); MLflow run {active.info.run_id}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("train", __doc__, run, {"embeddings_dir": "embeddings folder", "model_dir": "models folder",
                                              "metrics_dir": "metrics folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
