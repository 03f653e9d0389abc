"""MobileNet v1 with ImageNet weights: the shared check, pooled layers in one pass, clear errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from kombat.backbone import feature_model, load_backbone, network_size
from kombat.compose import default_config
from kombat.errors import WeightsError

from .conftest import needs_weights

DEFAULTS = default_config()


@needs_weights
def test_imagenet_weights_recognise_chelsea_the_cat():
    """The check in ../shared/README.md: chelsea -> class 285 (Egyptian cat)."""
    import keras
    from skimage import data

    model = keras.applications.MobileNet(weights="imagenet")
    image = keras.ops.image.resize(data.chelsea()[None].astype("float32"), (224, 224))
    probabilities = np.asarray(model.predict(keras.applications.mobilenet.preprocess_input(image), verbose=0))
    assert int(probabilities.argmax()) == 285
    assert probabilities.max() > 0.5


@needs_weights
def test_feature_model_pools_every_candidate_layer_in_one_pass():
    layers = ["conv_pw_13_relu", "conv_pw_11_relu"]
    model = feature_model(DEFAULTS.backbone, DEFAULTS.embed, (56, 100, 3), layers)
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 56, 100, 3), dtype=np.uint8)
    pooled = model.predict_on_batch(frames)
    assert [np.asarray(p).shape for p in pooled] == [(3, 1024), (3, 512)]
    assert all(np.asarray(p).min() >= 0 for p in pooled)  # pooled ReLU outputs
    native = feature_model(DEFAULTS.backbone, dataclasses.replace(DEFAULTS.embed, input_size=0), (56, 100, 3), layers[:1])
    assert np.asarray(native.predict_on_batch(frames)).shape == (3, 1024)


def test_the_network_sees_a_square_or_the_frame_s_own_shape():
    square, aspect = DEFAULTS.embed, dataclasses.replace(DEFAULTS.embed, keep_aspect=True)
    assert network_size((56, 100, 3), dataclasses.replace(square, keep_aspect=False)) == (224, 224)  # stretched
    assert network_size((56, 100, 3), aspect) == (128, 224)  # 125.4 rounded to MobileNet's stride
    assert network_size((100, 56, 3), aspect) == (224, 128)  # a phone held upright
    assert network_size((1080, 1920, 3), dataclasses.replace(aspect, input_size=320)) == (192, 320)
    assert network_size((56, 100, 3), dataclasses.replace(aspect, input_size=0)) == (56, 100)  # the frame's own


@needs_weights
def test_an_aspect_network_pools_to_the_same_widths():
    embed = dataclasses.replace(DEFAULTS.embed, keep_aspect=True)
    model = feature_model(DEFAULTS.backbone, embed, (56, 100, 3), ["conv_pw_13_relu"])
    assert tuple(model.get_layer("pool_conv_pw_13_relu").input.shape[1:3]) == (4, 7)  # 128x224 halved five times
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 56, 100, 3), dtype=np.uint8)
    assert np.asarray(model.predict_on_batch(frames)).shape == (2, 1024)


@needs_weights
def test_grayscale_sees_luma_only():
    """With grayscale on (the article's way) two frames of equal luma embed alike; with it off they do not."""
    frame = np.random.default_rng(1).integers(0, 256, size=(1, 56, 100, 3), dtype=np.uint8)
    grey = np.repeat(np.round(frame @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[..., None], 3, axis=-1)
    on = feature_model(DEFAULTS.backbone, dataclasses.replace(DEFAULTS.embed, grayscale=True), (56, 100, 3), ["conv_pw_13_relu"])
    off = feature_model(DEFAULTS.backbone, dataclasses.replace(DEFAULTS.embed, grayscale=False), (56, 100, 3), ["conv_pw_13_relu"])
    a, b = on.predict_on_batch(frame), on.predict_on_batch(grey)
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    a, b = off.predict_on_batch(frame), off.predict_on_batch(grey)
    assert np.abs(a - b).max() > 0.05 * np.abs(a).max()


def test_missing_weights_file_says_how_to_fix(tmp_path):
    config = dataclasses.replace(DEFAULTS.backbone, weights=str(tmp_path / "nope.h5"))
    with pytest.raises(WeightsError, match=r"nope\.h5: backbone\.weights file does not exist.*KERAS_HOME"):
        load_backbone(config, (224, 224, 3))


OFFLINE = """
import urllib.request
def offline(*args, **kwargs):
    raise OSError("URL fetch failure: no network")
urllib.request.urlretrieve = offline
from kombat.backbone import load_backbone
from kombat.compose import default_config
from kombat.errors import WeightsError
try:
    load_backbone(default_config().backbone, (224, 224, 3))
except WeightsError as exc:
    print(exc)
"""


def test_offline_without_cache_says_how_to_fix(tmp_path):
    """No cached ImageNet weights and no network: one line naming KERAS_HOME and backbone.weights."""
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", OFFLINE], capture_output=True, text=True, env=env, timeout=120)
    message = out.stdout.strip().splitlines()[-1]  # Keras first prints "Downloading data from ..."
    assert message.startswith("ImageNet weights for mobilenet_v1 cannot be loaded"), out.stderr[-500:]
    assert "KERAS_HOME" in message and "backbone.weights" in message and "\n" not in message
