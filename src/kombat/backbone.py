"""The backbone as a feature extractor: frames in, global-average-pooled hidden layers out.

Backbones are chosen by name (`backbone.name`, BACKBONES); the default is ImageNet MobileNet v1.

Preprocessing lives inside the Keras model (grayscale like the article, resize to 224 like the
article's tfjs library did silently, MobileNet's [-1, 1] scaling), so the packaged play model
and the embed stage cannot disagree about it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from kombat.errors import ConfigError, WeightsError
from kombat.schema import BackboneConfig, EmbedConfig

WEIGHTS_HELP = (
    "set KERAS_HOME to a folder holding models/mobilenet_1_0_224_tf_no_top.h5 (Keras's own cache; "
    "in this project's CI that is ../shared/keras), connect to the internet once, "
    "or set backbone.weights to a weights file"
)


def _mobilenet_v1(input_shape: tuple[int, int, int], alpha: float, weights: str):
    import keras

    with warnings.catch_warnings():  # a non-224 input reuses the 224 weights on purpose
        warnings.filterwarnings("ignore", message=".*Weights for input shape")
        return keras.applications.MobileNet(input_shape=input_shape, alpha=alpha, include_top=False, weights=weights)


BACKBONES = {"mobilenet_v1": _mobilenet_v1}  # backbone.name -> a builder of the Keras network without its top


def load_backbone(backbone: BackboneConfig, input_shape: tuple[int, int, int]):
    """The network `backbone.name` without its top, with `backbone.weights` ('imagenet' or a file)."""
    if backbone.name not in BACKBONES:
        raise ConfigError(f"backbone.name {backbone.name!r} is not one of {sorted(BACKBONES)}")
    weights = backbone.weights
    if weights != "imagenet":
        if not Path(weights).is_file():
            raise WeightsError(f"{weights}: backbone.weights file does not exist ({WEIGHTS_HELP})")
    try:
        return BACKBONES[backbone.name](input_shape, backbone.alpha, weights)
    except Exception as exc:  # Keras raises plain Exception for a failed download
        reason = str(exc).splitlines()[0][:160]
        where = f"ImageNet weights for {backbone.name}" if weights == "imagenet" else weights
        raise WeightsError(f"{where} cannot be loaded ({reason}): {WEIGHTS_HELP}") from None


STRIDE = 32  # MobileNet halves its input five times: a side that is a multiple of this fills its last grid


def network_size(frame_shape: tuple[int, ...], embed: EmbedConfig) -> tuple[int, int]:
    """(height, width) the backbone sees: the frame's own (input_size 0), an input_size square (the
    article's, a 100x56 frame stretched), or with keep_aspect the frame's shape, its longer side
    input_size and its shorter side scaled alike, rounded to the network's stride (224x128 for 100x56)."""
    height, width = frame_shape[:2]
    if not embed.input_size:
        return height, width
    if not embed.keep_aspect:
        return embed.input_size, embed.input_size
    scale = embed.input_size / max(height, width)
    return (max(STRIDE, round(height * scale / STRIDE) * STRIDE), max(STRIDE, round(width * scale / STRIDE) * STRIDE))


def preprocess(frames, embed: EmbedConfig):
    """uint8 RGB frames (as a Keras tensor) -> MobileNet's input."""
    import keras
    from keras import ops

    x = ops.cast(frames, "float32")
    if embed.grayscale:
        luma = ops.sum(x * ops.convert_to_tensor([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
        x = ops.repeat(luma, 3, axis=-1)
    if embed.input_size:
        x = keras.layers.Resizing(*network_size(tuple(frames.shape[1:]), embed), interpolation="bilinear")(x)
    return x / 127.5 - 1.0


def feature_model(backbone: BackboneConfig, embed: EmbedConfig, frame_shape: tuple[int, int, int], layers: list[str]):
    """Model: uint8 frames -> [pooled output of each layer in `layers`], in one pass."""
    import keras

    network = load_backbone(backbone, (*network_size(frame_shape, embed), 3))
    names = {layer.name for layer in network.layers}
    unknown = [layer for layer in layers if layer not in names]
    if unknown:
        raise WeightsError(f"backbone.candidate_layers: {unknown} are not layers of {backbone.name} "
                           "(e.g. conv_pw_13_relu)")
    trunk = keras.Model(network.input, [network.get_layer(layer).output for layer in layers])
    frames = keras.Input(shape=frame_shape, dtype="uint8", name="frames")
    hidden = trunk(preprocess(frames, embed))
    pooled = [keras.layers.GlobalAveragePooling2D(name=f"pool_{layer}")(h) for layer, h in zip(layers, hidden)]
    return keras.Model(frames, pooled, name="mobilenet_features")
