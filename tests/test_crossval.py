"""Cross-validation by actor: folds that never score an actor they trained on, a child MLflow run per
fold, and a parent whose mean and sd are its children's."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from kombat import crossval, schema, training
from kombat.data import fewer_training, fold_splits
from kombat.errors import DataError

from .conftest import ROOT

ACTORS = ["ann", "bob", "cy", "dee", "eve"]


def split_cfg(cfg, **changes):
    return dataclasses.replace(cfg.split, **changes)


def test_leave_one_actor_out_tests_each_actor_once_and_never_trains_on_it(cfg):
    folds = fold_splits(ACTORS * 3, split_cfg(cfg), folds=0)
    assert len(folds) == len(ACTORS)
    assert sorted(a for fold in folds for a, s in fold.items() if s == "test") == sorted(ACTORS)
    for fold in folds:
        assert {s for s in fold.values()} == {"train", "val", "test"}
    assert len({tuple(sorted(a for a, s in fold.items() if s == "val")) for fold in folds}) > 1  # validation rotates


def test_k_folds_group_actors_and_named_test_actors_are_never_trained_on(cfg):
    three = fold_splits(ACTORS, split_cfg(cfg), folds=2)
    assert [sum(s == "test" for s in fold.values()) for fold in three] in ([3, 2], [2, 3])
    named = fold_splits(ACTORS, split_cfg(cfg, test_actors=["dee", "eve"]), folds=0)
    assert [sorted(a for a, s in f.items() if s == "test") for f in named] in (
        [["dee"], ["eve"]], [["eve"], ["dee"]])
    assert all(f["dee"] != "train" and f["eve"] != "train" for f in named)  # a second place stays unseen
    with pytest.raises(DataError, match="needs at least 3"):
        fold_splits(["ann", "bob"], split_cfg(cfg), folds=0)


def test_fewer_training_keeps_test_and_validation(cfg):
    fold = fold_splits(ACTORS, split_cfg(cfg), folds=0)[0]
    smaller = fewer_training(fold, 1, seed=3)
    assert sum(s == "train" for s in smaller.values()) == 1
    assert {a: s for a, s in smaller.items() if s in ("val", "test")} == \
        {a: s for a, s in fold.items() if s in ("val", "test")}


def embeddings_project(tmp_path, cfg, splits=("train", "val", "test")) -> tuple[schema.KombatConfig, object]:
    """A project folder with dvc.yaml, params.yaml and cached 'motion' embeddings of five actors: two
    classes told apart by channel 0, the third by channel 1, each actor shifted a little."""
    rng = np.random.default_rng(0)
    rows, values = [], []
    for actor in ACTORS:
        offset = rng.normal(0, 0.3, 16)
        for copy in (0, 1):
            for tick in range(60):
                label = ("punch", "kick", "other")[tick // 20]
                rows.append({"source": f"videos/{actor}.mp4", "actor": actor, "time": tick / 10, "tick": tick,
                             "phase": 0, "label": label, "split": "train", "copy": copy, "target": 1})
                signal = np.zeros(16)
                signal[{"punch": 0, "kick": 1, "other": 2}[label]] = 3.0
                values.append(signal + offset + rng.normal(0, 0.5, 16))
    cfg = dataclasses.replace(
        cfg, embed=dataclasses.replace(cfg.embed, input="motion"),
        head=dataclasses.replace(cfg.head, name="dense", units=8, window=1),
        train=dataclasses.replace(cfg.train, epochs=8, patience=3, lr=0.01),
        crossval=dataclasses.replace(cfg.crossval, folds=0),  # leave one actor out
        augment=dataclasses.replace(cfg.augment, splits=list(splits)),  # every actor's copies (as made), by default
        mlflow=dataclasses.replace(cfg.mlflow, tracking_uri=f"sqlite:///{tmp_path}/mlflow.db"))
    folder = tmp_path / "data" / "embeddings"
    (folder / "motion").mkdir(parents=True)
    np.save(folder / "motion" / f"{cfg.embed.layer}.npy", np.asarray(values, np.float32))
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(schema.to_dict(cfg), sort_keys=False))
    return cfg


def test_a_fold_never_scores_an_actor_it_trained_on(tmp_path, cfg):
    cfg = embeddings_project(tmp_path, cfg)
    features, manifest = training.read_features(tmp_path / "data" / "embeddings", cfg)
    for fold in fold_splits(manifest["actor"].tolist(), cfg.split, folds=0):
        rows = training.target_rows(manifest, cfg.balance, crossval.assigned_splits(manifest, fold))
        actors = {name: set(manifest.loc[r, "actor"]) for name, r in rows.items()}
        assert not actors["train"] & actors["test"] and not actors["train"] & actors["val"]
        assert actors["test"] == {a for a, s in fold.items() if s == "test"}
        assert (manifest.loc[rows["test"], "copy"] == 0).all()  # scored on the clips as recorded
        assert (manifest.loc[rows["train"], "copy"] == 1).any()  # trained on the augmented copies too


def test_the_parent_run_holds_the_mean_and_sd_of_its_children(tmp_path, cfg, monkeypatch):
    import mlflow

    cfg = embeddings_project(tmp_path, cfg)
    monkeypatch.chdir(tmp_path)
    summary = crossval.crossvalidate(cfg, tmp_path, ["head=dense"], curve=False)
    assert "5 folds by actor" in summary
    client = mlflow.MlflowClient(cfg.mlflow.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id])
    parent = next(r for r in runs if r.data.tags.get("kombat.kind") == "crossval")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 5 and all(c.info.status == "FINISHED" for c in children)
    for name in ("macro_f1", "f1_punch", "val_macro_f1"):
        values = [c.data.metrics[name] for c in children]
        assert parent.data.metrics[f"{name}_mean"] == pytest.approx(np.mean(values))
        assert parent.data.metrics[f"{name}_sd"] == pytest.approx(np.std(values, ddof=1))
    for child in children:  # what each child trained on and was scored on, apart
        train, test = (set(child.data.params[f"{s}_groups"].split(",")) for s in ("train", "test"))
        assert not train & test
    assert not any(r.data.tags.get("kombat.candidate") for r in runs)  # folds never compete for the package
    saved = json.loads((tmp_path / crossval.OUT).read_text())
    assert saved["macro_f1_mean"] == pytest.approx(parent.data.metrics["macro_f1_mean"]) and len(saved["folds"]) == 5
    assert saved["macro_f1_mean"] > 0.6  # the classes are separable: the folds learned them


def test_crossval_refuses_embeddings_made_with_copies_of_the_training_actors_only(tmp_path, cfg):
    built = embeddings_project(tmp_path, cfg, splits=["train"])  # params.yaml: what the embeddings were made with
    every = dataclasses.replace(built, augment=dataclasses.replace(built.augment, splits=["train", "val", "test"]))
    for asked in (built, every):  # whatever the command line says
        with pytest.raises(Exception, match=r"made with augment.splits=\['train'\] \(params.yaml\): the val/test actors"):
            crossval.crossvalidate(asked, tmp_path, [], curve=False)
    assert not (tmp_path / crossval.OUT).exists()
    crossval.check_copies(dataclasses.replace(built, augment=dataclasses.replace(built.augment, copies=0)))


def test_a_sweep_or_crossval_never_asks_for_augment_splits_to_match(tmp_path, cfg):
    built = embeddings_project(tmp_path, cfg)  # every split copied
    crossval.check_embeddings(dataclasses.replace(built, augment=dataclasses.replace(built.augment, splits=["train"])),
                              tmp_path)  # the training copies are the same bytes either way
    with pytest.raises(Exception, match=r"`python -m kombat.compose 'augment.copies=3' && dvc repro embed`"):
        crossval.check_embeddings(dataclasses.replace(built, augment=dataclasses.replace(built.augment, copies=3)),
                                  tmp_path)


def test_folds_take_their_training_targets_by_balance_method_from_the_same_embeddings(tmp_path, cfg):
    cfg = embeddings_project(tmp_path, dataclasses.replace(cfg, balance=dataclasses.replace(cfg.balance, method="cut")))
    weigh = dataclasses.replace(cfg, balance=dataclasses.replace(cfg.balance, method="weight"))
    crossval.check_embeddings(weigh, tmp_path, free=crossval.REBALANCED)  # no new embeddings needed
    with pytest.raises(Exception, match="balance.method=weight"):
        crossval.check_embeddings(weigh, tmp_path)  # a sweep, which trains on the stage's targets, refuses
    _, manifest = training.read_features(tmp_path / "data" / "embeddings", cfg)
    manifest["label"] = np.where(manifest["tick"] < 10, "kick", manifest["label"])  # kick 30, punch 10, other 20
    fold = fold_splits(manifest["actor"].tolist(), cfg.split, folds=0)[0]
    assigned = crossval.assigned_splits(manifest, fold)
    cut, weighed = (training.target_rows(manifest, c.balance, assigned)["train"] for c in (cfg, weigh))
    n_train = int(((assigned == "train") & (manifest["label"] != "")).sum())
    assert len(weighed) == n_train  # every labelled frame of the training actors
    assert len(cut) == n_train // 2  # of each actor copy's 60 frames, 10 of each class (punch has 10)
