"""The dense head, built by name: its shape follows the task."""

from __future__ import annotations

import dataclasses

import pytest

from kombat import heads
from kombat.errors import ConfigError
from kombat.schema import TaskConfig


def test_dense_head_shape_follows_the_task(cfg):
    three = heads.build(dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, units=1024)), (1024,))
    dense = [layer for layer in three.layers if hasattr(layer, "units")]
    assert [layer.units for layer in dense] == [1024, 3] and dense[-1].activation.__name__ == "softmax"
    binary = heads.build(dataclasses.replace(cfg, task=TaskConfig(name="punch_binary")), (1024,))
    assert binary.layers[-1].units == 1 and binary.layers[-1].activation.__name__ == "sigmoid"


def test_heads_are_chosen_by_module_name(cfg):
    assert "dense" in heads.names()
    with pytest.raises(ConfigError, match="head.name 'nope' is not one of"):
        heads.build(dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="nope")), (8,))
