"""Running a TFLite model on CPU: LiteRT (ai-edge-litert) when installed, else TensorFlow's interpreter.

The one TFLite runner: the embed stage runs its multi-layer feature model through it (`batch`),
and play.py runs the package's embedder and head (one sample at a time). Copied into the package
beside play.py; the package stage checks its TFLite models through this same runner, so what is
checked is what plays.
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


def _output_order(detail: dict) -> int:
    """TFLite names a converted Keras model's outputs ...:0, ...:1 in the Keras model's order."""
    tail = detail["name"].rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class LiteModel:
    """One input, one sample per invoke: `model(x)` -> the (first) output for x (no batch axis), as
    play calls it; `model.batch(xs)` -> one (N, C) array per output, in the Keras model's order."""

    def __init__(self, model_path: Path | None = None, model_content: bytes | None = None,
                 threads: int | None = None) -> None:
        self.interpreter = interpreter(model_path, model_content, threads)
        self.input = self.interpreter.get_input_details()[0]
        outputs = sorted(self.interpreter.get_output_details(), key=_output_order)
        self.outputs = [o["index"] for o in outputs]
        self.widths = [int(o["shape"][-1]) for o in outputs]

    def _invoke(self, x: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input["index"], np.ascontiguousarray(x[None], dtype=self.input["dtype"]))
        self.interpreter.invoke()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self._invoke(x)
        return self.interpreter.get_tensor(self.outputs[0])[0].copy()

    def batch(self, xs: np.ndarray) -> list[np.ndarray]:
        result = [np.empty((len(xs), width), np.float32) for width in self.widths]
        for i, x in enumerate(xs):
            self._invoke(x)
            for out, index in zip(result, self.outputs):
                out[i] = self.interpreter.get_tensor(index)[0]
        return result
