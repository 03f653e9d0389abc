"""The play models (per-tick embedder, head over a window) and their TFLite twins agree, and the two
together give what the pipeline's route gives: the embed stage's features, then the trained head."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from kombat import heads
from kombat.export import embedder_model, head_model, to_tflite
from kombat.lite import LiteModel
from kombat.play import TickModel

from .conftest import drawn_frame, needs_weights

TOLERANCE = 1e-4  # absolute, on probabilities: float32 kernels differ (XNNPACK vs TF), nothing else


@needs_weights
def test_keras_and_tflite_agree_tick_by_tick(cfg):
    import keras

    cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="temporal", units=16, window=3,
                                                            standardize=True),
                              embed=dataclasses.replace(cfg.embed, input="motion+flow"))
    keras.utils.set_random_seed(0)
    statistics = np.random.default_rng(0).gamma(0.5, 1.0, (64, 2048))  # embeddings: non-negative, skewed
    head = heads.build(cfg, (3, 2048), statistics)  # the standardizing layer travels into TFLite too
    embedder, play_head = embedder_model(cfg, (56, 100, 3)), head_model(cfg, head)
    frames = np.stack([cv2.cvtColor(cv2.resize(drawn_frame(label, seed=i), (100, 56)), cv2.COLOR_BGR2RGB)
                       for i, label in enumerate(["other", "punch", "kick", "other", "punch"])])
    lite_embedder, lite_head = LiteModel(model_content=to_tflite(embedder)), LiteModel(model_content=to_tflite(play_head))
    embeddings = np.asarray(embedder.predict(frames, verbose=0))
    assert embeddings.shape == (5, 1024)
    assert np.abs(np.stack([lite_embedder(f) for f in frames]) - embeddings).max() < TOLERANCE

    def keras_call(model):
        return lambda x: np.asarray(model(x[None], training=False))[0]

    played = {name: TickModel(embed, head_fn, ["motion", "flow"], window=3, motion_gap=1,
                              gains={"motion": 4.0, "flow": 25.0})
              for name, embed, head_fn in (("keras", keras_call(embedder), keras_call(play_head)),
                                           ("tflite", lite_embedder, lite_head))}
    keras_p = np.stack([played["keras"](f) for f in frames])
    assert keras_p.shape == (5, 3) and np.allclose(keras_p.sum(axis=1), 1, atol=1e-5)
    assert np.abs(np.stack([played["tflite"](f) for f in frames]) - keras_p).max() < TOLERANCE

    # The pipeline's route for the last tick: the embed stage's feature model, the window, the head.
    from kombat.backbone import feature_model
    from kombat.frames import flow_image, motion_image

    features = feature_model(cfg.backbone, cfg.embed, (56, 100, 3), [cfg.embed.layer])
    motions = np.stack([motion_image(frames[max(i - 1, 0)], frames[i], 4.0) for i in range(5)])
    flows = np.stack([flow_image(frames[max(i - 1, 0)], frames[i], 25.0) for i in range(5)])
    motion, flow = (np.asarray(features.predict_on_batch(x)).reshape(5, -1) for x in (motions, flows))
    window = np.concatenate([motion, flow], axis=1)[None, 2:5]
    assert np.abs(np.asarray(head.predict(window, verbose=0))[0] - keras_p[-1]).max() < TOLERANCE


@needs_weights
def test_a_quantized_embedder_plays_from_tflite_on_either_backend(cfg, tmp_path):
    """An int8 package has no embedder.keras: play.py's keras backend runs the head in Keras and the embedder the
    head learned from in TFLite, so both backends decide alike; a float32 package without it is an error."""
    import keras
    import pytest

    from kombat.play import PlayError, load_model

    cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="temporal", units=16, window=3))
    keras.utils.set_random_seed(0)
    head = head_model(cfg, heads.build(cfg, (3, 1024), np.random.default_rng(0).gamma(0.5, 1.0, (64, 1024))))
    frames = np.stack([cv2.cvtColor(cv2.resize(drawn_frame(label, seed=i), (100, 56)), cv2.COLOR_BGR2RGB)
                       for i, label in enumerate(["other", "punch", "kick", "other", "punch"])])
    (tmp_path / "embedder.tflite").write_bytes(to_tflite(embedder_model(cfg, (56, 100, 3)), "int8", calibration=frames))
    head.save(tmp_path / "head.keras")
    (tmp_path / "head.tflite").write_bytes(to_tflite(head))
    labels = {"inputs": ["motion"], "embedder_precision": "int8", "window": 3, "motion_gap": 1, "gains": {"motion": 4.0}}
    played = {backend: load_model(tmp_path, backend, labels) for backend in ("keras", "tflite")}
    keras_p, tflite_p = (np.stack([played[backend](f) for f in frames]) for backend in ("keras", "tflite"))
    assert keras_p.shape == (5, 3) and np.abs(keras_p - tflite_p).max() < TOLERANCE
    assert isinstance(played["keras"].embed, LiteModel) and not isinstance(played["keras"].head, LiteModel)
    with pytest.raises(PlayError, match="embedder.keras: model not found"):
        load_model(tmp_path, "keras", {**labels, "embedder_precision": "float32"})


@needs_weights
def test_an_int8_embedder_run_by_other_kernels_is_refused_at_play(cfg, tmp_path, monkeypatch):
    """An int8 head learned from the numbers of the kernels that embedded for it (LiteRT's XNNPACK). The same
    int8 flatbuffer on TensorFlow Lite's built-in kernels gives other numbers, so a package whose check
    embeddings came from those kernels is refused, naming its check file; from XNNPACK's it plays, on LiteRT
    and on TensorFlow's own interpreter (play.py's fallback), which may round a value one step of the grid
    the other way (the package's play_tolerance)."""
    import sys

    import pytest
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from kombat.play import EMBEDDER_CHECK_FILE, PlayError, load_model
    from kombat.stages.package import play_tolerance

    cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="temporal", units=16, window=3))
    head = head_model(cfg, heads.build(cfg, (3, 1024), np.random.default_rng(0).gamma(0.5, 1.0, (64, 1024))))
    frames = np.stack([cv2.cvtColor(cv2.resize(drawn_frame(label, seed=i), (100, 56)), cv2.COLOR_BGR2RGB)
                       for i, label in enumerate(["other", "punch", "kick", "other", "punch"])])
    flatbuffer = to_tflite(embedder_model(cfg, (56, 100, 3)), "int8", calibration=frames)
    (tmp_path / "embedder.tflite").write_bytes(flatbuffer)
    (tmp_path / "head.tflite").write_bytes(to_tflite(head))
    xnnpack = LiteModel(model_content=flatbuffer)
    stored = np.stack([xnnpack(f) for f in frames])
    labels = {"inputs": ["motion"], "embedder_precision": "int8", "window": 3, "motion_gap": 1,
              "gains": {"motion": 4.0}, "embedder_tolerance": play_tolerance(stored, 1e-4)}
    assert 1e-4 < labels["embedder_tolerance"] < 0.02  # about one step in 255

    def builtin_kernels(image):
        runner = Interpreter(model_content=flatbuffer,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        runner.allocate_tensors()
        runner.set_tensor(runner.get_input_details()[0]["index"], image[None])
        runner.invoke()
        return runner.get_tensor(runner.get_output_details()[0]["index"])[0]

    np.savez(tmp_path / EMBEDDER_CHECK_FILE, images=frames, embeddings=stored)
    assert load_model(tmp_path, "tflite", labels)(frames[0]).shape == (3,)
    with monkeypatch.context() as without_litert:  # TensorFlow's interpreter, as where ai-edge-litert is missing
        without_litert.setitem(sys.modules, "ai_edge_litert.interpreter", None)
        played = load_model(tmp_path, "tflite", labels)
        assert type(played.embed.interpreter).__module__.startswith("tensorflow")
    np.savez(tmp_path / EMBEDDER_CHECK_FILE, images=frames, embeddings=np.stack([builtin_kernels(f) for f in frames]))
    with pytest.raises(PlayError, match=f"{EMBEDDER_CHECK_FILE}: here the embedder gives"):
        load_model(tmp_path, "tflite", labels)
    assert load_model(tmp_path, "tflite", labels, check=False)(frames[0]).shape == (3,)  # as the MLflow model's
    with pytest.raises(PlayError, match="labels.json: embedder_tolerance 'tight' is not a number"):
        load_model(tmp_path, "tflite", {**labels, "embedder_tolerance": "tight"})
