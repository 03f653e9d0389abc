"""The dense head, built by name: its shape follows the task."""

from __future__ import annotations

import dataclasses

import pytest

from kombat import heads
from kombat.errors import ConfigError


def dense(cfg, **head):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="dense", units=1024, window=1, **head))


def test_dense_head_shape_follows_the_task(cfg):
    three = heads.build(dense(cfg), (1, 1024))
    layers = [layer for layer in three.layers if hasattr(layer, "units")]
    assert [layer.units for layer in layers] == [1024, 3] and layers[-1].activation.__name__ == "softmax"
    binary = heads.build(dataclasses.replace(dense(cfg), task=dataclasses.replace(cfg.task, name="punch_binary")), (1, 1024))
    assert binary.layers[-1].units == 1 and binary.layers[-1].activation.__name__ == "sigmoid"


def test_heads_are_chosen_by_module_name(cfg):
    assert "dense" in heads.names()
    with pytest.raises(ConfigError, match="head.name 'nope' is not one of"):
        heads.build(dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="nope")), (8,))


def test_a_dense_window_sees_its_ticks_side_by_side(cfg):
    model = heads.build(dense(cfg), (4, 32))
    hidden = model.get_layer("hidden")
    assert hidden.kernel.shape == (4 * 32, 1024)
