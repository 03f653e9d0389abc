"""The dense head, built by name: its output follows the task, its dropout acts only in training, and a
window's ticks are all seen, side by side."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kombat import heads
from kombat.errors import ConfigError


def dense(cfg, **head):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, **{"name": "dense", "units": 32, "window": 1,
                                                                          "dropout": 0.0, **head}))


def inputs(n=16, window=1, dim=24, seed=0):
    return np.random.default_rng(seed).normal(0, 3, (n, window, dim)).astype(np.float32)


def test_the_output_follows_the_task(cfg):
    x = inputs()
    three = heads.build(dense(cfg), x.shape[1:])
    p = np.asarray(three(x, training=False))
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5) and (p > 0).all()  # a softmax over punch, kick, other
    binary_cfg = dataclasses.replace(dense(cfg), task=dataclasses.replace(cfg.task, name="punch_binary"))
    binary = heads.build(binary_cfg, x.shape[1:])
    q = np.asarray(binary(x, training=False))
    assert q.shape == (16, 1) and ((q > 0) & (q < 1)).all()  # one sigmoid: the punch probability
    columns = binary_cfg.task_spec.probabilities(q)
    assert np.allclose(columns[:, 1], q[:, 0]) and np.allclose(columns.sum(axis=1), 1)


def test_dropout_acts_in_training_only(cfg):
    x = inputs()
    model = heads.build(dense(cfg, dropout=0.5), x.shape[1:])
    inference = np.asarray(model(x, training=False))
    assert np.array_equal(inference, np.asarray(model(x, training=False)))  # deterministic at play
    first, second = np.asarray(model(x, training=True)), np.asarray(model(x, training=True))
    assert not np.allclose(first, inference) and not np.allclose(first, second)
    plain = heads.build(dense(cfg), x.shape[1:])
    assert np.array_equal(np.asarray(plain(x, training=True)), np.asarray(plain(x, training=False)))


def test_a_dense_window_sees_every_tick_in_its_place(cfg):
    x = inputs(window=4)
    model = heads.build(dense(cfg, window=4), x.shape[1:])
    base = np.asarray(model(x, training=False))
    oldest_changed = x.copy()
    oldest_changed[:, 0] += 5
    reordered = x[:, ::-1]
    for other in (oldest_changed, reordered):
        assert np.abs(np.asarray(model(other, training=False)) - base).max() > 1e-3


def test_heads_are_chosen_by_module_name(cfg):
    assert {"dense", "temporal"} <= set(heads.names())
    with pytest.raises(ConfigError, match="head.name 'nope' is not one of"):
        heads.build(dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="nope")), (8,))
