"""The dense head and the scores, on small synthetic embeddings."""

from __future__ import annotations

import dataclasses

import numpy as np

from kombat.config import TaskConfig, TaskName, TrainConfig
from kombat.head import build_head, class_weights, encode_labels, fit_head, predict_proba
from kombat.metrics import confusion, score


def clusters(n_per_class: int, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(3, dim))
    x = np.concatenate([c + rng.normal(0, 1, size=(n_per_class, dim)) for c in centres]).astype(np.float32)
    labels = np.repeat(["punch", "kick", "other"], n_per_class)
    return x, labels


def small(cfg, **task):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, units=32),
                               train=TrainConfig(lr=1e-2, epochs=30, batch_size=32, patience=5),
                               task=TaskConfig(**task) if task else cfg.task)


def test_head_shape_follows_the_task(cfg):
    three = build_head(1024, dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, units=1024)))
    assert [layer.units for layer in three.layers] == [1024, 3]
    assert three.layers[-1].activation.__name__ == "softmax"
    binary = build_head(1024, small(cfg, name=TaskName.punch_binary))
    assert binary.layers[-1].units == 1 and binary.layers[-1].activation.__name__ == "sigmoid"


def test_head_learns_separable_classes(cfg):
    x, labels = clusters(60)
    y = encode_labels(labels, TaskName.three_class)
    xv, lv = clusters(20, seed=0)
    result = fit_head(small(cfg), x, y, xv, encode_labels(lv, TaskName.three_class), verbose=0)
    p = predict_proba(result.model, xv, TaskName.three_class)
    assert p.shape == (60, 3) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert score(encode_labels(lv, TaskName.three_class), p.argmax(1), ("punch", "kick", "other"))["macro_f1"] > 0.9
    assert 1 <= result.best_epoch <= len(result.history["loss"])


def test_punch_binary_maps_kick_to_no_punch(cfg):
    labels = np.array(["punch", "kick", "other", "punch"])
    assert encode_labels(labels, TaskName.punch_binary).tolist() == [1, 0, 0, 1]
    x, labels = clusters(40)
    y = encode_labels(labels, TaskName.punch_binary)
    result = fit_head(small(cfg, name=TaskName.punch_binary), x, y, x, y, verbose=0)
    assert predict_proba(result.model, x, TaskName.punch_binary).shape == (120, 2)


def test_class_weights_even_out_an_unbalanced_task():
    weights = class_weights(np.array([0, 0, 0, 1]), 2)
    assert weights[1] == 3 * weights[0]


def test_scores_and_confusion():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 2, 0])
    s = score(y_true, y_pred, ("punch", "kick", "other"))
    assert s["accuracy"] == 6 / 8
    assert s["recall_punch"] == 0.5 and s["recall_kick"] == 1.0 and s["recall_other"] == 0.75
    assert s["balanced_accuracy"] == (0.5 + 1.0 + 0.75) / 3
    assert confusion(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 3]]
