"""The TFLite runner play and the package stage share: one sample in, its output out."""

from __future__ import annotations

import numpy as np

from kombat.export import to_tflite
from kombat.lite import LiteModel


def test_a_converted_model_runs_one_sample_at_a_time():
    import keras

    inputs = keras.Input(shape=(3, 4))
    model = keras.Model(inputs, keras.layers.Dense(2, kernel_initializer="ones")(keras.layers.Flatten()(inputs)))
    lite = LiteModel(model_content=to_tflite(model))
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.allclose(lite(x), [66.0, 66.0])  # the sum of 0..11 through all-ones weights
