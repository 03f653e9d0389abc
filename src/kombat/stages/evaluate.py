"""Evaluate: the trained head on the held-out test actors, into the same MLflow run.

Writes metrics/evaluate.json (`dvc metrics show`), predictions for DVC's confusion plot and a
confusion matrix PNG. Validation scores are logged too, as `val_*`: models are chosen by those,
never by the test figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kombat import tracking, training
from kombat.cli import stage_main
from kombat.errors import DataError
from kombat.metrics import confusion, confusion_png
from kombat.schema import KombatConfig
from kombat.storage import atomic_write_text, write_json


def load_head(model_dir: Path):
    import keras

    path = model_dir / training.HEAD_FILE
    if not path.is_file():
        raise DataError(f"{path}: no trained head (run `dvc repro train`)")
    return keras.models.load_model(path)


def run(cfg: KombatConfig, embeddings_dir: Path, model_dir: Path, metrics_dir: Path, plots_dir: Path) -> str:
    import mlflow

    splits = training.load_splits(embeddings_dir, cfg, ("val", "test"))
    run_info = json.loads((model_dir / training.RUN_FILE).read_text())
    model = load_head(model_dir)
    scores = training.score_splits(model, splits, cfg)
    y_test, predicted = splits["test"].y, training.predict_classes(model, splits["test"], cfg)
    matrix = confusion(y_test, predicted, len(cfg.classes))
    report = {**scores, "test_frames": int(len(y_test))}
    metrics_dir.mkdir(parents=True, exist_ok=True)
    plots_dir.mkdir(parents=True, exist_ok=True)
    write_json(metrics_dir / "evaluate.json", report)
    names = list(cfg.classes)
    atomic_write_text(metrics_dir / "predictions.csv", pd.DataFrame(
        {"actual": [names[i] for i in y_test], "predicted": [names[i] for i in predicted]}).to_csv(index=False))
    png = plots_dir / "confusion_matrix.png"
    confusion_png(matrix, cfg.classes, f"test actors, macro-F1 {scores['macro_f1']:.3f}", png)
    with tracking.run_context(cfg, run_id=run_info["run_id"]):
        mlflow.log_metrics(report)
        mlflow.log_artifact(str(png))
        mlflow.log_dict({"classes": names, "matrix": matrix.tolist()}, "confusion_matrix.json")
    rows = " | ".join(f"{names[i]}: " + " ".join(f"{v:4d}" for v in row) for i, row in enumerate(matrix))
    return (f"test accuracy {scores['accuracy']:.3f}, balanced {scores['balanced_accuracy']:.3f}, "
            f"macro-F1 {scores['macro_f1']:.3f} (val macro-F1 {scores['val_macro_f1']:.3f}); "
            f"confusion (rows actual, cols {'/'.join(names)}): {rows}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("evaluate", __doc__, run, {"embeddings_dir": "embeddings folder", "model_dir": "models folder",
                                                 "metrics_dir": "metrics folder", "plots_dir": "plots folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
