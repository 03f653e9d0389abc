"""The end-to-end play model and its TFLite export give the same probabilities."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from kombat import heads
from kombat.export import end_to_end_model, to_tflite
from kombat.lite import LiteModel

from .conftest import drawn_frame, needs_weights

TOLERANCE = 1e-4  # absolute, on probabilities: float32 kernels differ (XNNPACK vs TF), nothing else


@needs_weights
def test_keras_and_tflite_agree_on_frames(cfg):
    cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, units=64))
    import keras

    keras.utils.set_random_seed(0)
    head = heads.build(cfg, (1024,))
    model = end_to_end_model(cfg, head, (56, 100, 3))
    frames = np.stack([cv2.cvtColor(cv2.resize(drawn_frame(label, seed=i), (100, 56)), cv2.COLOR_BGR2RGB)
                       for i, label in enumerate(["punch", "kick", "other", "punch"])])
    expected = np.asarray(model.predict(frames, verbose=0))
    assert expected.shape == (4, 3) and np.allclose(expected.sum(axis=1), 1, atol=1e-5)
    lite = LiteModel(model_content=to_tflite(model))
    got = np.stack([lite(frame) for frame in frames])
    assert np.abs(got - expected).max() < TOLERANCE
    # The same as the pipeline's route: pooled embedding of the frame, then the head.
    from kombat.backbone import feature_model

    pooled = feature_model(cfg.backbone, cfg.embed, (56, 100, 3), [cfg.embed.layer]).predict_on_batch(frames)
    assert np.abs(np.asarray(head.predict(np.asarray(pooled), verbose=0)) - expected).max() < TOLERANCE
