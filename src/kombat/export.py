"""The play models: a per-tick embedder (a frame or motion image in, its pooled embedding out) and
the head (a window of embeddings in, class probabilities out), and their TFLite twins.

play.py runs them tick by tick with ring buffers (kombat.play.TickModel), so each frame is embedded
once however long the window. The `package` stage writes both, in Keras and TFLite (a quantized
embedder in TFLite only, at the precision and calibration the embed stage used: kombat.stages.package).
"""

from __future__ import annotations

from kombat.backbone import feature_model
from kombat.features import to_tflite  # noqa: F401  one converter for the embed stage and the package
from kombat.schema import KombatConfig


def embedder_model(cfg: KombatConfig, frame_shape: tuple[int, int, int]):
    """uint8 RGB images (N, H, W, 3) -> (N, C) pooled embeddings at the run's layer (preprocessing inside)."""
    import keras

    features = feature_model(cfg.backbone, cfg.embed, frame_shape, [cfg.embed.layer])
    images = keras.Input(shape=frame_shape, dtype="uint8", name="image")
    pooled = features(images)
    return keras.Model(images, pooled[0] if isinstance(pooled, (list, tuple)) else pooled, name="kombat_embedder")


def head_model(cfg: KombatConfig, head):
    """(N, window, D) embeddings -> (N, len(cfg.classes)) probabilities: the trained head without its
    optimizer's state, every class an output (a one-sigmoid task gets both columns)."""
    import keras

    inference_head = keras.models.clone_model(head)
    inference_head.set_weights(head.get_weights())
    window = keras.Input(shape=head.input_shape[1:], name="window")
    return keras.Model(window, cfg.task_spec.probabilities_tensor(inference_head(window)), name="kombat_head")
