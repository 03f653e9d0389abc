"""The package as an MLflow model: saved from code as the package stage logs it, loaded back, it plays a clip
with the package's own play.py, tick by tick, each clip from fresh buffers. (The registered champion of a
built project: tests/test_play_package.py, slow.)"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from kombat.stages.package import KOMBAT_DIR

from .test_playtest import MODEL_FRAME, colour_package


@pytest.fixture
def isolated_imports(monkeypatch):
    """The model puts the package folder on sys.path and imports play.py's neighbours as top-level
    modules: undo both after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name in ("frames", "lite", "video", "kombat_package_play"):
            del sys.modules[name]


def clip(colours: list[str]) -> np.ndarray:
    rgb = {"dark": (20, 20, 20), "red": (210, 25, 25), "blue": (25, 25, 210)}
    return np.stack([np.full((MODEL_FRAME[1], MODEL_FRAME[0], 3), rgb[c], np.uint8) for c in colours])


def test_the_saved_model_plays_a_clip_as_play_py_does_and_each_clip_afresh(tmp_path, isolated_imports):
    import mlflow
    from mlflow.models import infer_signature

    from kombat.play import load_model

    # The head decides on the oldest of its 3 ticks: a red frame goes on saying punch for two more ticks.
    package = colour_package(tmp_path / "package", window=3)
    frames = clip(["red", "dark", "dark", "dark", "blue", "dark", "dark"])
    labels = json.loads((package / "labels.json").read_text())
    tick_model = load_model(package, "tflite", labels)
    expected = np.stack([tick_model(frame) for frame in frames])
    assert expected.argmax(axis=1).tolist() == [0, 0, 0, 2, 2, 2, 1]  # punch while red is in the window, kick late

    saved = tmp_path / "model"
    mlflow.pyfunc.save_model(saved, python_model=str(KOMBAT_DIR / "mlflow_model.py"),
                             artifacts={"package": str(package)}, signature=infer_signature(frames[:2], expected[:2]),
                             pip_requirements=[])
    model = mlflow.pyfunc.load_model(str(saved))
    probabilities = model.predict(frames)
    assert np.allclose(probabilities, expected, atol=1e-6)
    # A second clip starts from its own first frame, not from the end of the first clip (whose last
    # ticks were dark): its first ticks still say kick.
    second = model.predict(clip(["blue", "dark", "dark", "dark"]))
    assert second.argmax(axis=1).tolist() == [1, 1, 1, 2]
    assert np.allclose(model.predict(frames), probabilities)


def test_a_pose_champion_refuses_model_frames_and_says_how_to_play_it(tmp_path, isolated_imports):
    import mlflow
    import pytest

    package = colour_package(tmp_path / "package", window=3)
    labels = json.loads((package / "labels.json").read_text())
    (package / "labels.json").write_text(json.dumps({**labels, "inputs": [*labels["inputs"], "pose"]}))
    saved = tmp_path / "model"
    mlflow.pyfunc.save_model(saved, python_model=str(KOMBAT_DIR / "mlflow_model.py"),
                             artifacts={"package": str(package)}, pip_requirements=[])
    with pytest.raises(Exception, match="sees pose, found on the full-size camera frame"):
        mlflow.pyfunc.load_model(str(saved)).predict(clip(["red", "dark"]))
