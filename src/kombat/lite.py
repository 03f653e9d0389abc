"""Running a TFLite model on CPU: LiteRT (ai-edge-litert) when installed, else TensorFlow's interpreter.

Copied into the package beside play.py; the package stage checks its TFLite models through this
same runner, so what is checked is what plays.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np


def interpreter(model_path: Path | None = None, model_content: bytes | None = None, threads: int | None = None):
    """An allocated TFLite interpreter for a file or a flatbuffer, on `threads` (default: every core)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT will replace it
        warnings.simplefilter("ignore")
        kwargs = {"model_path": str(model_path)} if model_path is not None else {"model_content": model_content}
        runner = Interpreter(**kwargs, num_threads=threads or os.cpu_count())
    runner.allocate_tensors()
    return runner


class LiteModel:
    """One input, one output, one sample at a time: `model(x)` -> output for x (no batch axis)."""

    def __init__(self, model_path: Path | None = None, model_content: bytes | None = None) -> None:
        self.interpreter = interpreter(model_path, model_content)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], np.ascontiguousarray(x[None], dtype=self.input["dtype"]))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0].copy()
