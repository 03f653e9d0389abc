"""Fitting and scoring a head on small synthetic embeddings, as train, evaluate and sweep do."""

from __future__ import annotations

import dataclasses

import numpy as np

from kombat import training


def clusters(n_per_class: int, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(3, dim))
    x = np.concatenate([c + rng.normal(0, 1, size=(n_per_class, dim)) for c in centres]).astype(np.float32)[:, None]
    labels = np.repeat(["punch", "kick", "other"], n_per_class)
    return x, labels


def small(cfg, **task):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="dense", units=32, window=1),
                               train=dataclasses.replace(cfg.train, lr=1e-2, epochs=30, batch_size=32, patience=5),
                               task=dataclasses.replace(cfg.task, **task))


def split(name, x, labels, cfg):
    return training.Split(name, x, cfg.task_spec.encode(labels))


def test_head_learns_separable_classes_and_scores_them(cfg):
    cfg = small(cfg)
    x, labels = clusters(60)
    xv, lv = clusters(20, seed=0)
    result = training.fit(cfg, split("train", x, labels, cfg), split("val", xv, lv, cfg), verbose=0)
    p = training.predict_proba(result.model, xv, cfg)
    assert p.shape == (60, 3) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    scores = training.score_splits(result.model, {"val": split("val", xv, lv, cfg), "test": split("test", xv, lv, cfg)},
                                   cfg)
    assert scores["macro_f1"] > 0.9 and scores["val_macro_f1"] == scores["macro_f1"]
    assert 1 <= result.best_epoch <= len(result.history["loss"])


def test_punch_binary_trains_one_sigmoid_and_reports_two_columns(cfg):
    cfg = small(cfg, name="punch_binary")
    x, labels = clusters(40)
    data = split("train", x, labels, cfg)
    result = training.fit(cfg, data, data, verbose=0)
    assert training.predict_proba(result.model, x, cfg).shape == (120, 2)


def test_class_weights_even_out_an_unbalanced_task():
    weights = training.class_weights(np.array([0, 0, 0, 1]), 2)
    assert weights[1] == 3 * weights[0]
