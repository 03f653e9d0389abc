"""What every head shares (heads.build): the standardizing first layer that `head.standardize` adds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kombat import heads
from kombat.errors import ConfigError


def standardizing(cfg, on: bool):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="dense", units=8, window=2,
                                                             standardize=on))


def test_the_training_statistics_z_score_every_channel_and_are_saved_with_the_head(cfg, tmp_path):
    import keras

    rng = np.random.default_rng(0)
    train = rng.gamma(0.5, 3.0, (400, 16)) + np.arange(16) * 10  # channels of unlike scale and offset
    model = heads.build(standardizing(cfg, True), (2, 16), train)
    layer = model.get_layer("standardize")
    scored = np.asarray(layer(train[:, None, :].astype(np.float32)))[:, 0]
    assert np.allclose(scored.mean(axis=0), 0, atol=1e-4) and np.allclose(scored.std(axis=0), 1, atol=1e-3)
    x = rng.gamma(0.5, 3.0, (5, 2, 16)).astype(np.float32)
    model.save(tmp_path / "head.keras")
    again = keras.models.load_model(tmp_path / "head.keras")
    assert np.array_equal(np.asarray(again.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)))
    plain = heads.build(standardizing(cfg, False), (2, 16))
    assert "standardize" not in [layer.name for layer in plain.layers]


def test_standardizing_without_training_statistics_is_refused(cfg):
    with pytest.raises(ConfigError, match="head.standardize needs the training split"):
        heads.build(standardizing(cfg, True), (2, 16))
