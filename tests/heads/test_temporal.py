"""The temporal head: a GRU over a window of ticks, which can tell an order of events apart."""

from __future__ import annotations

import dataclasses

import numpy as np

from kombat import heads, training


def temporal(cfg, window=4):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="temporal", units=16, window=window),
                               train=dataclasses.replace(cfg.train, lr=1e-2, epochs=40, batch_size=32, patience=8))


def test_the_head_reads_a_window_into_a_gru(cfg):
    model = heads.build(temporal(cfg), (4, 32))
    assert model.input_shape == (None, 4, 32) and model.output_shape == (None, 3)
    assert model.get_layer("gru").units == 16


def test_it_learns_what_only_the_order_of_ticks_says(cfg):
    """Every window holds the same two vectors; only their order differs between classes. A still
    frame cannot see this; the temporal head must."""
    cfg = temporal(cfg, window=2)
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(0, 1, (3, 8)).astype(np.float32)
    orders = {0: (a, b), 1: (b, a), 2: (c, c)}
    y = np.tile([0, 1, 2], 60)
    x = np.stack([np.stack(orders[k]) + rng.normal(0, 0.05, (2, 8)) for k in y]).astype(np.float32)
    data = training.Split("train", x, y)
    result = training.fit(cfg, data, data, verbose=0)
    assert training.score_splits(result.model, {"test": data}, cfg)["macro_f1"] > 0.95
