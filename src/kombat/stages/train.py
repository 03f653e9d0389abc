"""Train: the head on the chosen layer's embeddings, one MLflow run per training.

Early stopping watches the validation actors (never the test actors). The run logs the params
users compare runs by (layer, units, lr, ...), the data fingerprint, the git commit and the
per-epoch curves; `evaluate` adds the held-out scores to the same run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kombat import tracking, training
from kombat.cli import stage_main
from kombat.schema import KombatConfig
from kombat.storage import atomic_write_text, write_json


def run(cfg: KombatConfig, embeddings_dir: Path, model_dir: Path, metrics_dir: Path) -> str:
    splits = training.load_splits(embeddings_dir, cfg, ("train", "val"))
    tags = {"kombat.kind": "pipeline", "mlflow.source.git.commit": tracking.git_commit()}
    run_name = f"pipeline {cfg.head.name} {cfg.embed.layer} u{cfg.head.units} lr{cfg.train.lr:g}"
    with tracking.run_context(cfg, run_name=run_name, tags=tags) as active:
        result = training.train_logged(cfg, embeddings_dir, splits)
        model_dir.mkdir(parents=True, exist_ok=True)
        tmp_model = model_dir / f".{training.HEAD_FILE}.tmp.keras"
        result.model.save(tmp_model)
        tmp_model.replace(model_dir / training.HEAD_FILE)
        write_json(model_dir / training.RUN_FILE, {
            "run_id": active.info.run_id, "experiment": cfg.mlflow.experiment, "layer": cfg.embed.layer,
            "classes": list(cfg.classes), "data_fingerprint": training.data_fingerprint(embeddings_dir, cfg)})
    history = pd.DataFrame(result.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    metrics_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(metrics_dir / "train_history.csv", history.to_csv(index=False))
    return (f"{len(splits['train'])} train / {len(splits['val'])} val embeddings ({cfg.embed.layer}), "
            f"{len(history)} epochs, best {result.best_epoch} (val_loss {min(result.history['val_loss']):.3f}); "
            f"MLflow run {active.info.run_id}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("train", __doc__, run, {"embeddings_dir": "embeddings folder", "model_dir": "models folder",
                                              "metrics_dir": "metrics folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
