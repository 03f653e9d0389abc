"""The feature extractor as LiteRT runs it: the Keras feature model (kombat.backbone) converted to
TFLite at a chosen precision, run frame by frame on XNNPACK, and checked against the Keras model.

float32 gives the Keras embeddings within about 5e-5, about twice as fast as Keras `predict` on
2 cores; float16 and int8 are options whose effect on the head is measured (README, Performance).
A frame's embedding does not depend on the thread count or on which frames share a call (checked:
byte-identical), so shards embedded anywhere, by any engine, give the same bytes.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kombat.errors import KombatError
from kombat.frames import input_image
from kombat.lite import interpreter

PRECISIONS = ("float32", "float16", "int8")


def backbone_input(images: np.ndarray, rows: np.ndarray, kind: str, previous: np.ndarray, gain: float) -> np.ndarray:
    """The backbone's input for `rows` of `images`: the frames themselves (still), or their motion or
    flow images against the frame `previous[row]` (kombat.frames.input_image, the function play calls)."""
    if kind == "still":
        return np.asarray(images[rows])
    return np.stack([input_image(kind, images[previous[i]], images[i], gain) for i in rows])


def read_input(frames, rows: np.ndarray, kind: str, previous: np.ndarray, gain: float) -> np.ndarray:
    """backbone_input for ascending `rows` of a frames file (kombat.storage.NpyRows), reading only the
    rows they span and the earlier ones their motion images need."""
    low = int(min(rows[0], previous[rows].min()))
    block = frames.read(low, int(rows[-1]) + 1)
    local_previous = np.zeros(len(block), dtype=int)
    local_previous[rows - low] = previous[rows] - low
    return backbone_input(block, rows - low, kind, local_previous, gain)


def to_tflite(model, precision: str = "float32", calibration: np.ndarray | None = None) -> bytes:
    """The Keras model as a TFLite flatbuffer: float32 as is, float16 weights, or int8 weights and
    activations calibrated on `calibration` (backbone inputs: still frames, motion and flow images)."""
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise KombatError(f"embed.precision {precision!r} is not one of {list(PRECISIONS)}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if calibration is None or not len(calibration):
            raise KombatError("embed.precision int8 needs calibration frames")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    with contextlib.redirect_stdout(io.StringIO()):  # Keras's export lists every variable's TensorSpec
        return converter.convert()


class LiteFeatures:
    """A multi-output TFLite feature model: `features(images)` -> one (N, C) float32 array per output,
    in the Keras model's output order (TFLite names them ...:0, ...:1, ...)."""

    def __init__(self, model_content: bytes, threads: int | None = None) -> None:
        self.interpreter = interpreter(model_content=model_content, threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda o: int(o["name"].rsplit(":", 1)[-1]))
        self.outputs = [o["index"] for o in outputs]
        self.widths = [int(o["shape"][-1]) for o in outputs]

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        result = [np.empty((len(images), width), np.float32) for width in self.widths]
        for i, image in enumerate(images):
            self.interpreter.set_tensor(self.input["index"], np.ascontiguousarray(image[None], dtype=np.uint8))
            self.interpreter.invoke()
            for out, index in zip(result, self.outputs):
                out[i] = self.interpreter.get_tensor(index)[0]
        return result


@dataclass
class Agreement:
    """How far the LiteRT embeddings are from the Keras ones on the check frames."""

    max_abs: float  # the largest |LiteRT - Keras| over frames, layers and channels
    max_relative: float  # per layer: the largest |LiteRT - Keras| over the largest |Keras|; the worst layer
    min_cosine: float  # the least similar frame's cosine similarity, over layers

    def describe(self) -> str:
        return (f"max |LiteRT - Keras| {self.max_abs:.1e} ({self.max_relative:.1e} of the largest value), "
                f"min cosine {self.min_cosine:.6f}")


def agreement(reference: list[np.ndarray], got: list[np.ndarray]) -> Agreement:
    max_abs, max_relative, min_cosine = 0.0, 0.0, 1.0
    for ref, out in zip(reference, got, strict=True):
        ref, out = np.asarray(ref, np.float64), np.asarray(out, np.float64)
        difference = float(np.abs(ref - out).max())
        max_abs = max(max_abs, difference)
        max_relative = max(max_relative, difference / max(float(np.abs(ref).max()), 1e-30))
        norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
        cosine = np.where(norms > 0, (ref * out).sum(axis=1) / np.maximum(norms, 1e-30), 1.0)
        min_cosine = min(min_cosine, float(cosine.min()))
    return Agreement(max_abs, max_relative, min_cosine)


def check_agreement(found: Agreement, precision: str, tolerance: float, min_cosine: float, where: Path | str) -> None:
    """float32 must match Keras within `tolerance` (relative to the layer's largest value: float32
    rounding in another order of sums grows with the values); a quantized embedder within `min_cosine`."""
    if precision == "float32" and found.max_relative > tolerance:
        raise KombatError(f"{where}: LiteRT embeddings differ from Keras by {found.max_relative:.2e} of the largest "
                          f"value > embed.tolerance {tolerance:g} on the check frames: nothing written "
                          "(embed.runtime=keras embeds with Keras)")
    if precision != "float32" and found.min_cosine < min_cosine:
        raise KombatError(f"{where}: {precision} embeddings are too far from Keras (min cosine {found.min_cosine:.3f} "
                          f"< embed.min_cosine {min_cosine:g}) on the check frames: nothing written")
