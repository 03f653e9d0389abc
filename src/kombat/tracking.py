"""The MLflow service: where runs go, and one context that opens and closes them.

The store is SQLite at the project root (MLflow 3 refuses a plain ./mlruns store), given as an
absolute path so that Hydra job folders and DVC stages all write the same database.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from kombat.data import VALIDATION_MEANS, split_unit_of
from kombat.errors import KombatError
from kombat.schema import KombatConfig
from kombat.storage import project_root


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


def experiment_id(cfg: KombatConfig) -> str:
    """Point MLflow at the project's store and return the experiment's id (created if new)."""
    import mlflow

    uri = tracking_uri(cfg)
    if uri.startswith(("http://", "https://")):  # an unreachable server: a clear error in seconds, not minutes
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
        if experiment is not None:
            return experiment.experiment_id
        return mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=artifact_root())
    except Exception as exc:  # MLflow raises many kinds for a locked or unreachable store
        raise KombatError(f"MLflow store {uri}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_orphans(experiment_id: str) -> list[str]:
    """Runs left RUNNING by a process of this machine that no longer exists (SIGKILL, power loss)
    are set FAILED, so no run stays RUNNING forever. Returns their ids."""
    import mlflow

    client = mlflow.MlflowClient()
    runs = client.search_runs([experiment_id], filter_string=f"attributes.status = 'RUNNING' and "
                                                             f"tags.`kombat.host` = '{socket.gethostname()}'")
    orphans = [run for run in runs if not _alive(int(run.data.tags.get("kombat.pid", "0") or 0))]
    for run in orphans:
        client.set_tag(run.info.run_id, "kombat.error", "its process ended without closing the run (killed)")
        client.set_terminated(run.info.run_id, "FAILED")
    return [run.info.run_id for run in orphans]


@contextlib.contextmanager
def run_context(cfg: KombatConfig, *, run_id: str | None = None, run_name: str | None = None,
                nested: bool = False, tags: dict[str, str] | None = None) -> Iterator[Any]:
    """An MLflow run that ends FINISHED, or FAILED (KILLED on Ctrl-C) if the body raises."""
    import mlflow

    experiment = experiment_id(cfg)
    close_orphans(experiment)
    tags = {**(tags or {}), "kombat.host": socket.gethostname(), "kombat.pid": str(os.getpid())}
    run = mlflow.start_run(run_id=run_id, experiment_id=None if run_id else experiment, run_name=run_name,
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


CANDIDATE_TAG = "kombat.candidate"  # runs the package stage may choose from
HEAD_ARTIFACT = "head/head.keras"
CONFIG_ARTIFACT = "kombat_config.json"


def log_candidate(cfg: KombatConfig, head, embeddings_dir: Path) -> None:
    """Log what the package stage needs to rebuild this run's model: its head, its whole config,
    and the fingerprint of the frames it was scored on (only runs on the same frames compete)."""
    import tempfile

    import mlflow

    from kombat.schema import to_dict
    from kombat.storage import file_digest

    mlflow.log_param("manifest_fingerprint", file_digest(Path(embeddings_dir) / "manifest.csv"))
    mlflow.log_dict(to_dict(cfg), CONFIG_ARTIFACT)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(HEAD_ARTIFACT).name
        head.save(path)
        mlflow.log_artifact(str(path), str(Path(HEAD_ARTIFACT).parent))
    mlflow.set_tag(CANDIDATE_TAG, "true")


def run_params(cfg: KombatConfig) -> dict[str, Any]:
    """The params every training run logs, with the names users search by in the MLflow UI."""
    return {
        "input": cfg.embed.input,
        "head": cfg.head.name,
        "window": cfg.head.window,
        "layer": cfg.embed.layer,
        "units": cfg.head.units,
        "lr": cfg.train.lr,
        "epochs": cfg.train.epochs,
        "batch_size": cfg.train.batch_size,
        "task": cfg.task.name,
        "augment_copies": cfg.augment.copies,
        "backbone": f"{cfg.backbone.name}@{cfg.backbone.alpha}:{Path(cfg.backbone.weights).name}",
        "input_size": cfg.embed.input_size,
        "grayscale": cfg.embed.grayscale,
        "dropout": cfg.head.dropout,
        "patience": cfg.train.patience,
        "data_source": cfg.data.source.value,
        "motion_gap": cfg.embed.motion_gap,
        "embedder": f"{cfg.embed.runtime}-{cfg.embed.precision if cfg.embed.runtime == 'litert' else 'float32'}",
    }


DATASET_CONTEXTS = {"train": "training", "val": "validation", "test": "testing"}


def clip_table(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """One row per clip of a split: its actor, augmented copies, frames, and target frames per class
    (what the run trained or was scored on)."""
    rows = manifest[manifest["split"] == split]
    if "copy" not in rows:
        rows = rows.assign(copy=0)
    is_target = rows["target"].astype(bool) if "target" in rows else rows["label"] != ""
    table = rows.groupby("source").agg(actor=("actor", "first"), copies=("copy", "nunique"), frames=("label", "size"))
    per_class = rows[is_target].groupby(["source", "label"]).size().unstack(fill_value=0)
    return table.join(per_class).fillna(0).reset_index().rename(columns={"source": "clip"})


def log_data_inputs(cfg: KombatConfig, manifest: pd.DataFrame, fingerprint: str) -> None:
    """Log each split as an MLflow dataset input: its clips and actors, the raw data folder as its
    source and the data fingerprint as its digest, so a run's page says what it trained and was scored on;
    and what the split kept apart (`split_by`: actor or take) with what its validation means (a tag)."""
    import warnings

    import mlflow

    unit = split_unit_of(manifest)
    mlflow.log_param("split_by", unit)
    mlflow.set_tag("kombat.validation", VALIDATION_MEANS[unit])
    source = str((project_root() / cfg.data.raw_dir).resolve())
    for split, context in DATASET_CONTEXTS.items():
        table = clip_table(manifest, split)
        if len(table):
            with warnings.catch_warnings():  # MLflow's hint about integer columns in an inferred schema
                warnings.simplefilter("ignore", UserWarning)
                dataset = mlflow.data.from_pandas(table, source=source, name=f"{cfg.data.source.value}-{split}",
                                                  digest=fingerprint)
                mlflow.log_input(dataset, context=context)
