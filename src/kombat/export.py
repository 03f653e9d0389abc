"""The end-to-end play model: a camera frame in, class probabilities out.

Preprocessing, MobileNet up to the chosen layer, pooling and the trained head in one Keras model,
and its TFLite conversion for fast CPU play. The `package` stage writes both.
"""

from __future__ import annotations

import numpy as np

from kombat.backbone import load_mobilenet, preprocess
from kombat.config import KombatConfig


def end_to_end_model(cfg: KombatConfig, head, frame_shape: tuple[int, int, int]):
    """uint8 RGB frames (N, H, W, 3) -> (N, len(cfg.classes)) class probabilities."""
    import keras
    from keras import ops

    from kombat.config import TaskName

    size = (cfg.embed.input_size, cfg.embed.input_size, 3) if cfg.embed.input_size else tuple(frame_shape)
    mobilenet = load_mobilenet(cfg.backbone, size)
    trunk = keras.Model(mobilenet.input, mobilenet.get_layer(cfg.embed.layer).output, name="mobilenet_trunk")
    frames = keras.Input(shape=frame_shape, dtype="uint8", name="frames")
    pooled = keras.layers.GlobalAveragePooling2D(name=f"pool_{cfg.embed.layer}")(trunk(preprocess(frames, cfg.embed)))
    inference_head = keras.models.clone_model(head)  # the same weights without the optimizer's state (8 MB)
    inference_head.set_weights(head.get_weights())
    outputs = inference_head(pooled)
    if cfg.task.name is TaskName.punch_binary:  # one sigmoid unit -> (no_punch, punch)
        outputs = ops.concatenate([1.0 - outputs, outputs], axis=-1)
    return keras.Model(frames, outputs, name="kombat_play")


def to_tflite(model) -> bytes:
    import contextlib
    import io

    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):  # Keras's export lists every variable's TensorSpec
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


class TfliteModel:
    """Runs a TFLite flatbuffer one frame at a time, as play does."""

    def __init__(self, flatbuffer: bytes) -> None:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT will replace it
            warnings.simplefilter("ignore")
            self.interpreter = tf.lite.Interpreter(model_content=flatbuffer)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input, np.ascontiguousarray(frame[None], dtype=np.uint8))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0].copy()
