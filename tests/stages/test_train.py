"""The train stage on tiny embeddings: a head that learned, its MLflow run (params, fingerprint, curves,
candidate head), run.json pointing at that run, and the curves as a CSV; the test actors never read."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from kombat import training
from kombat.compose import default_config
from kombat.stages import train

LABELS = ("punch", "kick", "other")
DIM = 8


def tiny_cfg(project):
    """A small dense head over 2 ticks, trained fast, its runs in a store of its own."""
    cfg = default_config(["head=dense", "head.units=16", "head.window=2", "train.epochs=8", "train.lr=0.01",
                          "train.batch_size=32", "train.patience=4"])
    return dataclasses.replace(cfg, mlflow=dataclasses.replace(cfg.mlflow, tracking_uri=f"sqlite:///{project}/mlflow.db",
                                                               experiment="tiny"))


def embeddings_folder(folder, cfg, swap_val=False, poison_test=False):
    """Embeddings as the embed stage writes them (manifest.csv + <input>/<layer>.npy) for one clip per actor:
    ann trains, bob validates, cy is tested. Each class is a cluster; `swap_val` gives bob's punches and
    kicks each other's names, `poison_test` makes cy's embeddings NaN."""
    centres = np.random.default_rng(0).normal(0, 3, (3, DIM))
    rows, values = [], []
    for actor, split, n in (("ann", "train", 60), ("bob", "val", 30), ("cy", "test", 30)):
        rng = np.random.default_rng(len(rows))
        classes = rng.integers(0, 3, n)
        for tick, k in enumerate(classes):
            label = LABELS[k]
            if swap_val and split == "val":
                label = {"punch": "kick", "kick": "punch"}.get(label, label)
            rows.append({"source": f"videos/{actor}.mp4", "actor": actor, "time": tick / 10, "tick": tick,
                         "phase": 0, "label": label, "split": split, "copy": 0, "target": 1})
            values.append(np.full(DIM, np.nan) if poison_test and split == "test" else
                          centres[k] + rng.normal(0, 0.5, DIM))
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    for kind in cfg.embed.input_parts:
        (folder / kind).mkdir()
        np.save(folder / kind / f"{cfg.embed.layer}.npy", np.asarray(values, np.float32))
    return folder


def train_in(project, **data):
    """Train on tiny embeddings in `project` (the project root: MLflow's store and artifacts go there)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        cfg = tiny_cfg(project)
        embeddings = embeddings_folder(project / "embeddings", cfg, **data)
        return cfg, embeddings, train.run(cfg, embeddings, project / "models", project / "metrics")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return tmp_path_factory.mktemp("project")


@pytest.fixture(scope="module")
def trained(project):
    return train_in(project, poison_test=True)


def test_the_head_learns_from_the_training_actor_and_never_reads_the_test_actor(trained, project):
    import keras

    cfg, embeddings, summary = trained
    head = keras.models.load_model(project / "models" / training.HEAD_FILE)
    assert np.isfinite(np.concatenate([w.ravel() for w in head.get_weights()])).all()  # NaN test rows never read
    val = training.load_splits(embeddings, cfg, ("val",))["val"]
    assert (training.predict_classes(head, val, cfg) == val.y).mean() > 0.9
    history = pd.read_csv(project / "metrics/train_history.csv")
    assert history["epoch"].tolist() == list(range(1, len(history) + 1)) and len(history) <= cfg.train.epochs
    best = int(history["val_loss"].idxmin()) + 1
    assert f"{len(history)} epochs, best {best} (val_loss {history['val_loss'].min():.3f})" in summary
    assert summary.startswith(f"60 train / 30 val embeddings ({cfg.embed.layer})")


def test_the_run_is_logged_and_run_json_points_at_it(trained, project):
    import mlflow

    cfg, embeddings, summary = trained
    info = json.loads((project / "models" / training.RUN_FILE).read_text())
    assert info["classes"] == list(cfg.classes) and info["layer"] == cfg.embed.layer
    assert info["data_fingerprint"] == training.data_fingerprint(embeddings, cfg)
    assert summary.endswith(f"MLflow run {info['run_id']}")
    client = mlflow.MlflowClient(cfg.mlflow.tracking_uri)
    run = client.get_run(info["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == f"pipeline dense {cfg.embed.layer} u16 lr0.01"
    assert (run.data.params["units"], run.data.params["window"], run.data.params["head"]) == ("16", "2", "dense")
    assert run.data.params["data_fingerprint"] == info["data_fingerprint"]
    assert run.data.tags["kombat.candidate"] == "true" and run.data.tags["kombat.kind"] == "pipeline"
    history = pd.read_csv(project / "metrics/train_history.csv")
    curve = client.get_metric_history(info["run_id"], "epoch_val_loss")
    assert [m.step for m in curve] == history["epoch"].tolist()
    assert np.allclose([m.value for m in curve], history["val_loss"])
    assert run.data.metrics["best_epoch"] == int(history["val_loss"].idxmin()) + 1
    logged = {artifact.path for artifact in client.list_artifacts(info["run_id"], "head")}
    assert logged == {"head/head.keras"}  # what the package stage rebuilds the champion from
