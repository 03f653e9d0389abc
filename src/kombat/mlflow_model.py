"""The package as an MLflow model ("models from code"): frames of one clip, one per tick, in;
class probabilities per tick out, computed by the package's own play.py (TFLite).

    model = mlflow.pyfunc.load_model("models:/kombat@champion")
    probabilities = model.predict(frames)  # frames: (N, 56, 100, 3) uint8 RGB, consecutive ticks

The package stage logs this file with the package folder as its artifact; it imports no kombat code.
"""

import importlib.util
import sys
from pathlib import Path

import mlflow
import numpy as np


class PackagedPlayer(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        package = Path(context.artifacts["package"])
        sys.path.insert(0, str(package))  # play.py imports frames.py, lite.py and video.py from beside it
        spec = importlib.util.spec_from_file_location("kombat_package_play", package / "play.py")
        self.play = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = self.play  # its dataclasses look their module up there while it loads
        spec.loader.exec_module(self.play)
        self.package, self.checked = package, False

    def predict(self, context, model_input, params=None):
        import json

        labels = json.loads((self.package / "labels.json").read_text())
        if "pose" in labels["inputs"]:  # BlazePose needs the full camera frame; this model is given model frames
            raise ValueError("this champion sees pose, found on the full-size camera frame, which a clip of model "
                             "frames does not hold: play it with the package's play.py (docs/pose.md)")
        # fresh buffers for each clip; the embedder checked on this runtime once
        tick_model = self.play.load_model(self.package, "tflite", labels, check=not self.checked)
        self.checked = True
        return np.stack([tick_model(np.asarray(frame, dtype=np.uint8)) for frame in np.asarray(model_input)])


mlflow.models.set_model(PackagedPlayer())
