"""The MLflow service: where runs go, one context that opens and closes them, what a training run
logs, and the model registry (the champion: found, rebuilt, registered under its alias).

The store is SQLite at the project root (MLflow 3 refuses a plain ./mlruns store), given as an
absolute path so that Hydra job folders and DVC stages all write the same database.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from kombat.data import VALIDATION_MEANS, split_unit_of
from kombat.errors import DataError, KombatError
from kombat import schema
from kombat.schema import KombatConfig
from kombat.storage import file_digest, project_root


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


def manifest_fingerprint(embeddings_dir: Path) -> str:
    """The frames a run was scored on: only runs with the same fingerprint compete for champion."""
    return file_digest(Path(embeddings_dir) / "manifest.csv")


def embeddings_fingerprint(embeddings_dir: Path, inputs: Iterable[str], layer: str) -> str | None:
    """The embedding files a head of these inputs and layer trains on (logged as `data_fingerprint`);
    None where they are not in `embeddings_dir`."""
    files = [Path(embeddings_dir) / kind / f"{layer}.npy" for kind in inputs]
    if not all(path.is_file() for path in files):
        return None
    return file_digest(*files, Path(embeddings_dir) / "manifest.csv")


def learned_from(params: dict[str, str], embeddings_dir: Path, known: dict) -> bool:
    """Whether a run's head learned from the embeddings in `embeddings_dir` as they are now: a run on
    embeddings made otherwise (another backbone input size, gain, ...) would be packaged with an
    embedder it never saw. `known` caches the fingerprints by (input, layer)."""
    key = (params.get("input", ""), params.get("layer", ""))
    if key not in known:
        known[key] = embeddings_fingerprint(embeddings_dir, key[0].split("+"), key[1])
    return known[key] is not None and params.get("data_fingerprint") == known[key]


def log_candidate(cfg: KombatConfig, head, embeddings_dir: Path) -> None:
    """Log what the package stage needs to rebuild this run's model: its head, its whole config,
    and the fingerprint of the frames it was scored on (only runs on the same frames compete)."""
    import mlflow

    from kombat.schema import to_dict
    mlflow.log_param("manifest_fingerprint", manifest_fingerprint(embeddings_dir))
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
        "augment_splits": ",".join(cfg.augment.splits),
        "backbone": f"{cfg.backbone.name}@{cfg.backbone.alpha}:{Path(cfg.backbone.weights).name}",
        "input_size": cfg.embed.input_size,
        "keep_aspect": cfg.embed.keep_aspect,
        "grayscale": cfg.embed.grayscale,
        "dropout": cfg.head.dropout,
        "standardize": cfg.head.standardize,
        "every_frame": cfg.extract.every_frame,
        "balance": cfg.balance.method,
        "patience": cfg.train.patience,
        "data_source": cfg.data.source.value,
        "motion_gap": cfg.embed.motion_gap,
        "motion_gain": cfg.embed.motion_gain,
        "flow_gain": cfg.embed.flow_gain,
        "embedder": cfg.embed.embedder,
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


# ---- the model registry: the package stage's champion ----------------------------------------


@dataclass(frozen=True)
class Candidate:
    run_id: str
    name: str
    kind: str
    metric: float
    start_time: int


def choose_champion(candidates: list[Candidate]) -> Candidate:
    """Highest validation metric; on a tie, the newest run."""
    if not candidates:
        raise DataError("no finished run with a logged head on these frames' embeddings: "
                        "run `dvc repro train` or a sweep first")
    return max(candidates, key=lambda c: (c.metric, c.start_time))


def find_candidates(cfg: KombatConfig, manifest_fingerprint: str, embeddings_dir: Path) -> list[Candidate]:
    import mlflow

    experiment = experiment_id(cfg)
    runs = mlflow.MlflowClient().search_runs(
        [experiment],
        filter_string=(f"params.manifest_fingerprint = '{manifest_fingerprint}' and "
                       f"tags.`{CANDIDATE_TAG}` = 'true' and attributes.status = 'FINISHED'"),
        max_results=5000)
    # Only runs whose head learned from these very embeddings: the package's embedder reproduces them.
    known: dict = {}
    return [Candidate(run.info.run_id, run.info.run_name or "", run.data.tags.get("kombat.kind", "?"),
                      run.data.metrics[cfg.package.metric], run.info.start_time)
            for run in runs if cfg.package.metric in run.data.metrics
            and learned_from(run.data.params, embeddings_dir, known)]


# Keys added after runs were first logged whose default is not how those runs were made.
BEFORE_KEYS = {"embed": {"keep_aspect": False}, "augment": {"splits": ["train", "val", "test"]}}


def load_champion(cfg: KombatConfig, champion: Candidate) -> tuple[KombatConfig, object]:
    """The champion's own config and trained head, downloaded from its run."""
    import keras
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        config_path = mlflow.artifacts.download_artifacts(run_id=champion.run_id,
                                                          artifact_path=CONFIG_ARTIFACT, dst_path=tmp)
        head_path = mlflow.artifacts.download_artifacts(run_id=champion.run_id,
                                                        artifact_path=HEAD_ARTIFACT, dst_path=tmp)
        # Over today's config: a run logged before a key existed gets today's value for it, or the value
        # that made it where today's default changed how embeddings are made (BEFORE_KEYS).
        logged = OmegaConf.merge(schema.to_dict(cfg), BEFORE_KEYS, json.loads(Path(config_path).read_text()))
        run_cfg = schema.validate(logged, source=f"run {champion.run_id} config")
        return run_cfg, keras.models.load_model(head_path)


def log_and_register(cfg: KombatConfig, champion: Candidate, package_dir: Path, python_model: Path,
                     frames: np.ndarray, probabilities: np.ndarray) -> str:
    """Log the package into the champion's run as an MLflow model that plays a clip (mlflow_model.py),
    register it, point the alias at it."""
    import av
    import mlflow
    import tensorflow as tf
    from mlflow.models import infer_signature

    client = mlflow.MlflowClient()
    existing = client.search_model_versions(f"name = '{cfg.package.model_name}' and run_id = '{champion.run_id}'")
    if existing:  # packaged before: same run, same weights
        version = max(existing, key=lambda v: int(v.version)).version
    else:
        with run_context(cfg, run_id=champion.run_id):
            info = mlflow.pyfunc.log_model(
                name="play_model", python_model=str(python_model),
                artifacts={"package": str(package_dir)}, signature=infer_signature(frames[:2], probabilities[:2]),
                pip_requirements=[f"tensorflow-cpu=={tf.__version__}", "opencv-python", f"av=={av.__version__}",
                                  f"mlflow=={mlflow.__version__}"])
            mlflow.log_artifacts(str(package_dir), "package")
        version = mlflow.register_model(info.model_uri, cfg.package.model_name).version
    client.set_registered_model_alias(cfg.package.model_name, cfg.package.alias, version)
    return str(version)
