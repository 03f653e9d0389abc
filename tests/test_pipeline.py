"""End to end: `dvc repro` on small synthetic data in a fresh copy, then the MLflow run read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import copy_project, needs_weights, project_env, repro


def set_param(project: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section][key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@needs_weights
def test_dvc_repro_tracks_and_reruns_only_what_changed(built_project):
    import mlflow

    project = built_project.path
    assert built_project.stages_ran == ["synth", "extract", "balance", "augment", "embed", "train", "evaluate",
                                        "package"]
    report = json.loads((project / "metrics/evaluate.json").read_text())
    assert 0 <= report["macro_f1"] <= 1 and report["test_frames"] > 0
    assert {"accuracy", "balanced_accuracy", "val_macro_f1", "f1_punch", "recall_kick"} <= report.keys()
    assert (project / "plots/confusion_matrix.png").stat().st_size > 1000
    assert (project / "plots/augment_preview.png").stat().st_size > 1000

    # The MLflow run, read back from the project's SQLite store.
    run_id = json.loads((project / "models/run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["layer"] == "conv_pw_13_relu"
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert run.data.params["head"] == params["head"]["name"] and run.data.params["input"] == params["embed"]["input"]
    assert run.data.params["units"] == str(params["head"]["units"]) and run.data.params["window"] == str(params["head"]["window"])
    assert float(run.data.params["lr"]) == params["train"]["lr"]
    assert run.data.params["augment_copies"] == "2" and run.data.params["task"] == "three_class"
    assert len(run.data.params["data_fingerprint"]) == 16
    assert run.data.tags["mlflow.source.git.commit"] != "unknown"
    assert run.data.metrics["accuracy"] == pytest.approx(report["accuracy"])
    assert len(client.get_metric_history(run_id, "epoch_val_loss")) >= 1  # per-epoch curves

    # The package: the only candidate so far is this run; the registry's alias points at it.
    version = client.get_model_version_by_alias("kombat", "champion")
    assert version.run_id == run_id
    labels = json.loads((project / "models/package/labels.json").read_text())
    assert labels["run_id"] == run_id and labels["classes"] == ["punch", "kick", "other"]
    card = (project / "models/package/README.md").read_text()
    assert run_id in card and f"macro-F1 {report['macro_f1']:.3f}" in card
    assert {p.name for p in (project / "models/package").iterdir()} >= {
        "embedder.keras", "embedder.tflite", "head.keras", "head.tflite", "labels.json", "play.json", "play.py",
        "frames.py", "lite.py", "README.md"}

    assert repro(project) == []  # nothing changed: nothing runs
    set_param(project, "head", "units", 64)
    assert repro(project) == ["train", "evaluate", "package"]
    set_param(project, "play", "cooldown_s", 0.4)
    assert repro(project) == ["package"]
    set_param(project, "augment", "copies", 1)
    assert repro(project) == ["augment", "embed", "train", "evaluate", "package"]


def test_bad_params_stop_the_first_stage_with_one_line(tmp_path):
    project = copy_project(tmp_path)
    set_param(project, "train", "lr", "fast")
    out = subprocess.run(["python", "-m", "kombat.stages.train", "--embeddings-dir", "x", "--model-dir", "m",
                          "--metrics-dir", "n"], cwd=project, env=project_env(), capture_output=True, text=True)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("kombat train: error: params.yaml: key train.lr")
