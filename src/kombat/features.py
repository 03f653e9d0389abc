"""The embed stage's feature model as LiteRT runs it: the Keras model of every candidate layer
(kombat.backbone) converted to TFLite at a chosen precision, run frame by frame on XNNPACK
(kombat.lite, the one TFLite runner), checked against Keras, and the backbone's input of each tick.

(Play's single-layer "embedder" is kombat.export's; this module is what the embed stage embeds with.)

float32 gives the Keras embeddings within about 5e-5, about twice as fast as Keras `predict` on
2 cores; float16 and int8 are options whose effect on the head is measured (docs/embedding.md, docs/performance.md).
A frame's embedding does not depend on the thread count or on which frames share a call (checked:
byte-identical), so shards embedded anywhere, by any engine, give the same bytes. The local engine
runs one single-thread interpreter per core, each on its own shards (`embed_litert`): on 2 cores that
embeds more frames a second than one interpreter on both, whose threads meet at every layer
(docs/performance.md).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kombat.errors import KombatError
from kombat.frames import input_image
from kombat.lite import LiteModel
from kombat.schema import PRECISIONS
from kombat.storage import NpyRows
from kombat.workers import in_threads



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


# ---- the runners the embed stage chooses between: shards of frames -> embeddings ----------------


class KerasRunner:
    """The Keras feature model, in batches of `batch_size` (embed.runtime: keras)."""

    def __init__(self, model, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        parts = [self.model.predict_on_batch(images[i:i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        return [np.concatenate([np.asarray(p[k], np.float32) for p in parts]) for k in range(len(parts[0]))]


def embed_local(runner, frames: NpyRows, kind: str, previous: np.ndarray, gain: float,
                ranges: list[tuple[int, int]]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """The shards one after another through `runner` (embed.runtime keras, whose calls use every core)."""
    for start, stop in ranges:
        yield start, runner(read_input(frames, np.arange(start, stop), kind, previous, gain))


def embed_litert(model_content: bytes, frames: NpyRows, kind: str, previous: np.ndarray, gain: float,
                 ranges: list[tuple[int, int]]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """The shards side by side, one thread per core, each thread with its own single-thread LiteRT
    interpreter of `model_content` (invoke lets go of the GIL), yielded in shard order."""
    local = threading.local()

    def shard(bounds: tuple[int, int]) -> tuple[int, list[np.ndarray]]:
        if not hasattr(local, "run"):
            local.run = LiteModel(model_content=model_content, threads=1).batch
        start, stop = bounds
        return start, local.run(read_input(frames, np.arange(start, stop), kind, previous, gain))

    return in_threads(shard, ranges)


class RayShard:
    """A Ray Data worker: one LiteRT embedder on one thread, frames read from the shared images file."""

    def __init__(self, model_content: bytes, images_path: str, kind: str, previous: np.ndarray, gain: float) -> None:
        self.runner = LiteModel(model_content=model_content, threads=1).batch
        self.frames = NpyRows(Path(images_path))
        self.kind, self.previous, self.gain = kind, previous, gain

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        start, stop = int(batch["start"][0]), int(batch["stop"][0])
        outputs = self.runner(read_input(self.frames, np.arange(start, stop), self.kind, self.previous, self.gain))
        return {"start": np.array([start]), **{f"out{k}": np.array([v.tobytes()], dtype=object)
                                               for k, v in enumerate(outputs)}}


def embed_ray(model_content: bytes, images_path: Path, kind: str, previous: np.ndarray, gain: float,
              ranges: list[tuple[int, int]], address: str, widths: list[int]) -> Iterator[tuple[int, list[np.ndarray]]]:
    """The shards embedded by Ray Data `map_batches` over a pool of RayShard actors, as they finish."""
    import logging

    import ray

    if not ray.is_initialized():
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 **({} if address else {"num_cpus": os.cpu_count()}))
    ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts the frames
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    workers = max(1, int(ray.available_resources().get("CPU", 1)))
    items = ray.data.from_items([{"start": start, "stop": stop} for start, stop in ranges], override_num_blocks=len(ranges))
    embedded = items.map_batches(RayShard, batch_size=1, concurrency=min(workers, len(ranges)), num_cpus=1,
                                 fn_constructor_kwargs={"model_content": model_content, "images_path": str(images_path),
                                                        "kind": kind, "previous": previous, "gain": gain})
    for row in embedded.iter_rows():
        start = int(row["start"])
        n = dict(ranges)[start] - start
        yield start, [np.frombuffer(row[f"out{k}"], np.float32).reshape(n, width) for k, width in enumerate(widths)]
