"""The evaluate stage: test figures from the test actors, validation figures (val_*) from the validation
actors, predictions and a confusion matrix of the test split, all logged into the training run."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from kombat.errors import DataError
from kombat.stages import evaluate
from kombat.storage import read_manifest

from .test_train import embeddings_folder, train_in


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A head trained on clean data, then evaluated on the same frames with the validation actor's punches
    and kicks under each other's names: a test/validation mix-up cannot score well on both."""
    project = tmp_path_factory.mktemp("project")
    cfg, _, _ = train_in(project)
    swapped = embeddings_folder(project / "embeddings_swapped", cfg, swap_val=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        summary = evaluate.run(cfg, swapped, project / "models", project / "metrics", project / "plots")
    return cfg, project, swapped, summary


def test_test_and_validation_figures_come_from_their_own_actors(evaluated):
    cfg, project, swapped, summary = evaluated
    report = json.loads((project / "metrics/evaluate.json").read_text())
    assert report["macro_f1"] > 0.9 and report["accuracy"] > 0.9  # the test actor, labels as trained
    assert report["val_f1_punch"] < 0.1 and report["val_f1_kick"] < 0.1 and report["val_f1_other"] > 0.9
    manifest = read_manifest(swapped)
    test_labels = manifest.loc[manifest["split"] == "test", "label"].tolist()
    assert report["test_frames"] == len(test_labels)
    assert f"test accuracy {report['accuracy']:.3f}" in summary and f"val macro-F1 {report['val_macro_f1']:.3f}" in summary


def test_predictions_and_the_confusion_matrix_are_the_test_split_s(evaluated):
    cfg, project, swapped, _ = evaluated
    manifest = read_manifest(swapped)
    predictions = pd.read_csv(project / "metrics/predictions.csv")
    assert predictions["actual"].tolist() == manifest.loc[manifest["split"] == "test", "label"].tolist()
    assert (predictions["actual"] == predictions["predicted"]).mean() == pytest.approx(
        json.loads((project / "metrics/evaluate.json").read_text())["accuracy"])
    png = cv2.imread(str(project / "plots/confusion_matrix.png"))
    assert png is not None and png.std() > 0


def test_everything_goes_into_the_training_run(evaluated):
    import mlflow

    cfg, project, _, _ = evaluated
    run_id = json.loads((project / "models/run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(cfg.mlflow.tracking_uri)
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == 1  # no second run
    run = client.get_run(run_id)
    report = json.loads((project / "metrics/evaluate.json").read_text())
    assert run.info.status == "FINISHED"
    assert {k: run.data.metrics[k] for k in report} == pytest.approx(report)
    matrix = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/confusion_matrix.json"))
    predictions = pd.read_csv(project / "metrics/predictions.csv")
    expected = [[int(((predictions["actual"] == a) & (predictions["predicted"] == p)).sum()) for p in cfg.classes]
                for a in cfg.classes]
    assert matrix == {"classes": list(cfg.classes), "matrix": expected}
    assert "confusion_matrix.png" in {a.path for a in client.list_artifacts(run_id)}


def test_no_trained_head_is_a_clear_error(tmp_path, evaluated):
    cfg, project, swapped, _ = evaluated
    (tmp_path / "models").mkdir()
    (tmp_path / "models/run.json").write_text((project / "models/run.json").read_text())
    with pytest.raises(DataError, match=r"models/head.keras: no trained head \(run `dvc repro train`\)"):
        evaluate.run(cfg, swapped, tmp_path / "models", tmp_path / "metrics", tmp_path / "plots")
    assert not (tmp_path / "metrics/evaluate.json").exists()
