"""The MLflow service: where runs go, and one context that opens and closes them.

The store is SQLite at the project root (MLflow 3 refuses a plain ./mlruns store), given as an
absolute path so that Hydra job folders and DVC stages all write the same database.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kombat.config import KombatConfig
from kombat.errors import KombatError
from kombat.io import project_root


def tracking_uri(cfg: KombatConfig, root: Path | None = None) -> str:
    if cfg.mlflow.tracking_uri:
        return cfg.mlflow.tracking_uri
    return f"sqlite:///{(root or project_root()) / 'mlflow.db'}"


def artifact_root(root: Path | None = None) -> str:
    return ((root or project_root()) / "mlartifacts").as_uri()


def git_commit(root: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or project_root(), capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def connect(cfg: KombatConfig) -> str:
    """Point MLflow at the project's store and return the experiment id (created if new)."""
    import mlflow

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
        if experiment is not None:
            return experiment.experiment_id
        return mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=artifact_root())
    except Exception as exc:  # MLflow raises many kinds for a locked or unreachable store
        raise KombatError(f"MLflow store {uri}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


@contextlib.contextmanager
def run_context(cfg: KombatConfig, *, run_id: str | None = None, run_name: str | None = None,
                nested: bool = False, tags: dict[str, str] | None = None) -> Iterator[Any]:
    """An MLflow run that ends FINISHED, or FAILED (KILLED on Ctrl-C) if the body raises."""
    import mlflow

    experiment_id = connect(cfg)
    run = mlflow.start_run(run_id=run_id, experiment_id=None if run_id else experiment_id, run_name=run_name,
                           nested=nested, tags=tags)
    try:
        yield run
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")


def run_params(cfg: KombatConfig) -> dict[str, Any]:
    """The params every training run logs, with the names users search by in the MLflow UI."""
    return {
        "layer": cfg.embed.layer,
        "units": cfg.head.units,
        "lr": cfg.train.lr,
        "epochs": cfg.train.epochs,
        "batch_size": cfg.train.batch_size,
        "task": cfg.task.name.value,
        "augment_copies": cfg.augment.copies,
        "backbone": f"{cfg.backbone.name}@{cfg.backbone.alpha}:{Path(cfg.backbone.weights).name}",
        "input_size": cfg.embed.input_size,
        "grayscale": cfg.embed.grayscale,
        "dropout": cfg.head.dropout,
        "patience": cfg.train.patience,
        "data_source": cfg.data.source.value,
    }
