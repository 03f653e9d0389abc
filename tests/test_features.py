"""The embed stage's feature model on LiteRT (kombat.features through kombat.lite), on a tiny
two-output network: conversion at each precision, output order, thread-count independence, and the
agreement check that guards the embed stage."""

from __future__ import annotations

import numpy as np
import pytest

from kombat.features import Agreement, agreement, backbone_input, check_agreement, embed_litert, read_input, to_tflite
from kombat.lite import LiteModel
from kombat.storage import NpyRows
from kombat.errors import KombatError


@pytest.fixture(scope="module")
def tiny_features():
    """uint8 (12, 16, 3) frames -> two pooled conv layers of 8 and 4 channels, like feature_model's outputs."""
    import keras

    keras.utils.set_random_seed(1)
    frames = keras.Input((12, 16, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(keras.ops.cast(frames, "float32"))
    a = keras.layers.Conv2D(8, 3, activation="relu")(x)
    b = keras.layers.Conv2D(4, 3, activation="relu")(a)
    return keras.Model(frames, [keras.layers.GlobalAveragePooling2D()(a), keras.layers.GlobalAveragePooling2D()(b)])


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (20, 12, 16, 3), dtype=np.uint8)


def test_float32_matches_keras_output_by_output(tiny_features, frames):
    reference = [np.asarray(x) for x in tiny_features.predict(frames, verbose=0)]
    got = LiteModel(model_content=to_tflite(tiny_features, "float32")).batch(frames)
    assert [g.shape for g in got] == [(20, 8), (20, 4)]  # the Keras order, not TFLite's
    found = agreement(reference, got)
    assert found.max_relative < 1e-5 and found.min_cosine > 0.99999


def test_a_frame_embeds_the_same_on_any_thread_count_and_in_any_company(tiny_features, frames):
    content = to_tflite(tiny_features, "float32")
    one = LiteModel(model_content=content, threads=1).batch(frames)
    two = LiteModel(model_content=content, threads=2).batch(frames)
    alone = LiteModel(model_content=content, threads=2).batch(frames[7:9])
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    assert all(np.array_equal(a[7:9], b) for a, b in zip(one, alone))


@pytest.mark.parametrize("kind", ["motion", "flow"])
def test_shards_embedded_side_by_side_come_back_in_order_with_the_same_bytes(tiny_features, frames, tmp_path,
                                                                              monkeypatch, kind):
    import kombat.workers

    monkeypatch.setattr(kombat.workers, "cores", lambda: 4)  # threads side by side on any machine
    np.save(tmp_path / "images.npy", frames)
    content, previous = to_tflite(tiny_features, "float32"), np.maximum(np.arange(len(frames)) - 1, 0)
    ranges = [(0, 3), (3, 9), (9, 10), (10, 17), (17, 20)]
    frames_file = NpyRows(tmp_path / "images.npy")
    pieces = list(embed_litert(content, frames_file, kind, previous, 4.0, ranges))
    whole = LiteModel(model_content=content).batch(read_input(frames_file, np.arange(20), kind, previous, 4.0))
    frames_file.close()
    assert [start for start, _ in pieces] == [start for start, _ in ranges]
    for layer, expected in enumerate(whole):
        assert np.array_equal(np.concatenate([outputs[layer] for _, outputs in pieces]), expected)


def test_int8_and_float16_run_and_stay_near_keras(tiny_features, frames):
    reference = [np.asarray(x) for x in tiny_features.predict(frames, verbose=0)]
    for precision in ("float16", "int8"):
        got = LiteModel(model_content=to_tflite(tiny_features, precision, calibration=frames)).batch(frames)
        assert all(g.dtype == np.float32 for g in got)
        assert agreement(reference, got).min_cosine > 0.9
    with pytest.raises(KombatError, match="int8 needs calibration frames"):
        to_tflite(tiny_features, "int8")


def test_the_check_refuses_by_precision():
    close, far = Agreement(1e-6, 1e-6, 0.99999), Agreement(0.5, 0.1, 0.8)
    check_agreement(close, "float32", 1e-4, 0.9, "out")
    check_agreement(Agreement(0.5, 0.1, 0.95), "int8", 1e-4, 0.9, "out")  # quantized: judged by cosine
    with pytest.raises(KombatError, match=r"out: LiteRT embeddings differ from Keras by 1.00e-01"):
        check_agreement(far, "float32", 1e-4, 0.9, "out")
    with pytest.raises(KombatError, match=r"int8 embeddings are too far from Keras \(min cosine 0.800"):
        check_agreement(far, "int8", 1e-4, 0.9, "out")


def test_agreement_measures_the_worst_frame_and_layer():
    reference = [np.array([[1.0, 0.0], [2.0, 2.0]]), np.array([[4.0]])]
    got = [np.array([[1.0, 0.1], [2.0, 2.0]]), np.array([[3.0]])]
    found = agreement(reference, got)
    assert found.max_abs == pytest.approx(1.0) and found.max_relative == pytest.approx(0.25)
    assert found.min_cosine == pytest.approx(1 / np.sqrt(1.01))


def test_backbone_input_is_the_frame_or_its_motion_image():
    images = np.zeros((3, 4, 5, 3), np.uint8)
    images[2, 1, 1] = 10
    previous = np.array([0, 0, 1])
    assert np.array_equal(backbone_input(images, np.array([2]), "still", previous, 4.0), images[2:3])
    moved = backbone_input(images, np.array([1, 2]), "motion", previous, 4.0)
    assert moved.shape == (2, 4, 5, 3) and moved[0].max() == 0 and moved[1, 1, 1, 0] == 40
