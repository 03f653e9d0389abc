"""The temporal head: a GRU over a window of ticks, which sees all of them in order and can learn what
only their order says."""

from __future__ import annotations

import dataclasses

import numpy as np

from kombat import heads, training


def temporal(cfg, window=4, **head):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, **{"name": "temporal", "units": 16,
                                                                          "window": window, "dropout": 0.0, **head}),
                               train=dataclasses.replace(cfg.train, lr=1e-2, epochs=12, batch_size=32, patience=8))


def test_the_decision_depends_on_every_tick_of_the_window_and_their_order(cfg):
    x = np.random.default_rng(0).normal(0, 1, (8, 4, 32)).astype(np.float32)
    model = heads.build(temporal(cfg), x.shape[1:])
    base = np.asarray(model(x, training=False))
    oldest_changed = x.copy()
    oldest_changed[:, 0] += 3  # a GRU that forgot its first tick, or a head on the last tick only, fails
    swapped = x[:, [1, 0, 2, 3]]  # the same ticks in another order: a pooled bag of ticks fails
    for other in (oldest_changed, swapped):
        assert np.abs(np.asarray(model(other, training=False)) - base).max() > 1e-4
    assert np.allclose(base, np.asarray(model(x, training=False)))


def test_dropout_acts_in_training_only(cfg):
    x = np.random.default_rng(1).normal(0, 1, (8, 4, 32)).astype(np.float32)
    model = heads.build(temporal(cfg, dropout=0.5), x.shape[1:])
    inference = np.asarray(model(x, training=False))
    assert np.array_equal(inference, np.asarray(model(x, training=False)))
    assert not np.allclose(np.asarray(model(x, training=True)), inference)


def test_it_learns_what_only_the_order_of_ticks_says(cfg):
    """Every window holds the same two vectors; only their order differs between classes. A still
    frame cannot see this; the temporal head must."""
    cfg = temporal(cfg, window=2)
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(0, 1, (3, 8)).astype(np.float32)
    orders = {0: (a, b), 1: (b, a), 2: (c, c)}
    y = np.tile([0, 1, 2], 60)
    x = np.stack([np.stack(orders[k]) + rng.normal(0, 0.05, (2, 8)) for k in y]).astype(np.float32)
    data = training.Split("train", x.reshape(-1, 8), np.arange(2 * len(y)).reshape(-1, 2), y)
    result = training.fit(cfg, data, data, verbose=0)
    assert training.score_splits(result.model, {"test": data}, cfg)["macro_f1"] > 0.95
