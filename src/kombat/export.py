"""The end-to-end play model: a camera frame in, class probabilities out.

The backbone's feature model for the run's layer (preprocessing inside), then the trained head,
in one Keras model, and its TFLite conversion for fast CPU play. The `package` stage writes both.
"""

from __future__ import annotations

from kombat.backbone import feature_model
from kombat.schema import KombatConfig


def end_to_end_model(cfg: KombatConfig, head, frame_shape: tuple[int, int, int]):
    """uint8 RGB frames (N, H, W, 3) -> (N, len(cfg.classes)) class probabilities."""
    import keras

    features = feature_model(cfg.backbone, cfg.embed, frame_shape, [cfg.embed.layer])
    inference_head = keras.models.clone_model(head)  # the same weights without the optimizer's state (8 MB)
    inference_head.set_weights(head.get_weights())
    frames = keras.Input(shape=frame_shape, dtype="uint8", name="frames")
    pooled = features(frames)
    pooled = pooled[0] if isinstance(pooled, (list, tuple)) else pooled
    outputs = cfg.task_spec.probabilities_tensor(inference_head(pooled))
    return keras.Model(frames, outputs, name="kombat_play")


def to_tflite(model) -> bytes:
    import contextlib
    import io

    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):  # Keras's export lists every variable's TensorSpec
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()
