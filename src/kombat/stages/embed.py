"""Embed: every frame through the backbone, as each input it needs, pooled at every candidate layer.

Inputs (`embed.input`'s own, and `embed.candidate_inputs` beside them): `still`, the frame itself
(the article's); `motion`, the frame difference of the frame and the one `embed.motion_gap` ticks
before it in the same clip copy; and `flow`, the optical flow between the same two frames with the
camera's own motion removed (kombat.frames.input_image, the function play calls). All candidate
layers come from ONE forward pass, and everything is cached one file per input and layer, so a
sweep over the embedded inputs, `embed.layer`, the head and its window trains on these files and
never embeds again. Only the run's own input is embedded by default (half the time of two): a
sweep or cross-validation over inputs names them in `embed.candidate_inputs` once. `pose` is no image:
it is each frame's BlazePose landmarks (found by extract on the full-size frame, moved by augment with
its frame) as kombat.pose.pose_features, no backbone involved, cached in the same layout.

`embed.runtime: litert` (default) runs the Keras feature model converted to TFLite on XNNPACK
(kombat.features, whose runners this stage wires up, and kombat.lite; one single-thread interpreter per
core) after checking it against Keras on `embed.check_frames` frames of each input (int8's calibration
set too; kept as check_images.npy, meta.json's `check` naming each one's input and row, for the package's
embedder to be checked against); `keras` runs Keras itself. Frames are read and embeddings written shard
by shard at their offsets in the .npy files (kombat.storage.NpyRows), so memory stays flat as the data grows. `embed.engine: ray` embeds the
shards on a Ray cluster (`embed.ray_address`; empty: a local Ray instance) with Ray Data: the same
bytes as `local`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kombat.backbone import feature_model
from kombat.cli import stage_main
from kombat.data import clip_starts, previous_rows
from kombat.errors import ConfigError, DataError
from kombat.features import (KerasRunner, agreement, check_agreement, embed_litert, embed_local, embed_ray, read_input,
                             to_tflite)
from kombat.lite import LiteModel
from kombat.pose import FEATURES_PER_PERSON, pose_features
from kombat.schema import KombatConfig
from kombat.storage import (CHECK_IMAGES_FILE, EMBEDDINGS_META_FILE, IMAGES_FILE, LANDMARKS_FILE, MANIFEST_FILE,
                            NpyRows, atomic_dir, read_dataset, write_json)


def shards(n_frames: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges of at most `size` frames covering 0..n_frames."""
    return [(start, min(start + size, n_frames)) for start in range(0, n_frames, size)]


def check_rows(n_frames: int, count: int) -> np.ndarray:
    """Rows spread evenly over the data set, for the LiteRT-vs-Keras check and int8 calibration."""
    return np.unique(np.linspace(0, n_frames - 1, num=min(count, n_frames)).round().astype(int))


def read_check_images(cfg: KombatConfig, frames: NpyRows, rows: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """The backbone inputs of `rows` as each embedded image input, input by input (meta.json's `check` order),
    read row by row (the rows span the whole file)."""
    return np.concatenate([read_input(frames, np.array([row]), kind, previous, cfg.embed.gains.get(kind, 1.0))
                           for kind in cfg.embed.embedded_images for row in rows])


def run(cfg: KombatConfig, augmented_dir: Path, out_dir: Path) -> str:
    embed = cfg.embed
    if embed.engine == "ray" and embed.runtime != "litert":
        raise ConfigError("embed.engine ray runs the LiteRT embedder: set embed.runtime litert")
    dataset = read_dataset(augmented_dir, mmap=True)  # the manifest, and the frames' shape (no pages read)
    frames, n_frames = NpyRows(augmented_dir / IMAGES_FILE), len(dataset.images)
    layers = list(cfg.backbone.candidate_layers)
    if embed.needs_pose and dataset.landmarks is None:
        raise DataError(f"{augmented_dir}: has no {LANDMARKS_FILE}, but embed.input or embed.candidate_inputs names "
                        f"pose: run `dvc repro` (extract finds landmarks when the config embeds pose)")
    if not n_frames:
        raise DataError(f"{augmented_dir}: no frames to embed")
    previous = previous_rows(clip_starts(dataset.manifest), embed.motion_gap)
    checked, widths = "", [0] * len(layers)  # no image input (embed.input pose): no backbone at all
    rows = check_rows(n_frames, embed.check_frames)
    check_images = read_check_images(cfg, frames, rows, previous) if embed.embedded_images else None
    if check_images is not None:
        runner, widths, checked = backbone_runner(cfg, out_dir, tuple(dataset.images.shape[1:]), check_images)
    started = time.perf_counter()
    ranges = shards(n_frames, embed.shard_frames)
    with atomic_dir(out_dir) as tmp:
        for kind in embed.embedded_images:
            (tmp / kind).mkdir()
            files = [NpyRows(tmp / kind / f"{layer}.npy", "w", shape=(n_frames, width))
                     for layer, width in zip(layers, widths)]
            if embed.engine == "ray":
                pieces = embed_ray(runner.model_content, augmented_dir / IMAGES_FILE, kind, previous,
                                   embed.gains.get(kind, 1.0), ranges, embed.ray_address, widths)
            elif runner.model_content is not None:  # litert: one single-thread interpreter per core
                pieces = embed_litert(runner.model_content, frames, kind, previous, embed.gains.get(kind, 1.0), ranges)
            else:
                pieces = embed_local(runner, frames, kind, previous, embed.gains.get(kind, 1.0), ranges)
            with tqdm(total=n_frames, desc=f"embed {kind}", unit="frame") as progress:
                for start, outputs in pieces:
                    for file, values in zip(files, outputs):
                        file.write(start, values)
                    progress.update(len(outputs[0]))
            for file in files:
                file.close()
        found, check = "", {}
        if check_images is not None:
            np.save(tmp / CHECK_IMAGES_FILE, check_images)
            check = {"check": {"inputs": list(embed.embedded_images), "rows": rows.tolist()}}
        if embed.needs_pose:
            found = write_pose(tmp / "pose", np.asarray(dataset.landmarks), layers)
        seconds = time.perf_counter() - started
        dataset.manifest.to_csv(tmp / MANIFEST_FILE, index=False)
        # No timings here: the folder's bytes must depend on its inputs only (DVC caches by hash).
        write_json(tmp / EMBEDDINGS_META_FILE, {"inputs": list(embed.embedded_inputs), "frames": n_frames,
                                                "layers": dict(zip(layers, widths)), "runtime": embed.runtime,
                                                "precision": embed.embedder.split("-")[1], **check})
    n = n_frames * len(embed.embedded_images)
    return (f"{n_frames} frames x {len(embed.embedded_images)} inputs ({', '.join(embed.embedded_images)}) through "
            f"{cfg.backbone.name} on {embed.embedder} "
            f"({embed.engine}) in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f} images/s); layers: "
            f"{', '.join(layers)}{checked}{found}")


def write_pose(folder: Path, landmarks: np.ndarray, layers: list[str]) -> str:
    """The pose input of every row (kombat.pose.pose_features), one file per layer as every input has, so
    training, sweeps and fingerprints read it as they read the others; says how many rows found nobody."""
    folder.mkdir()
    features = np.stack([pose_features(points) for points in landmarks]) if len(landmarks) else \
        np.zeros((0, landmarks.shape[1] * FEATURES_PER_PERSON), np.float32)
    for layer in layers:
        np.save(folder / f"{layer}.npy", features.astype(np.float32))
    nobody = int((~landmarks[..., 4].any(axis=(1, 2))).sum())
    return f"; pose: {features.shape[1]} values a frame, nobody found in {nobody} of {len(landmarks)} (zeros)"


class _Runner:
    """The backbone's runner with the flatbuffer it runs (Ray's workers rebuild it from that)."""

    def __init__(self, run, model_content: bytes | None) -> None:
        self.run, self.model_content = run, model_content

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        return self.run(images)


def backbone_runner(cfg: KombatConfig, out_dir: Path, frame_shape: tuple[int, int, int],
                    check_images: np.ndarray) -> tuple[_Runner, list[int], str]:
    """The backbone's feature model as embed.runtime runs it (LiteRT checked against Keras on `check_images`
    first, and int8 calibrated on them), its output widths, and what the check found."""
    embed = cfg.embed
    reference = feature_model(cfg.backbone, embed, frame_shape, list(cfg.backbone.candidate_layers))
    checked, model_content = "", None
    if embed.runtime == "litert":
        model_content = to_tflite(reference, embed.precision, calibration=check_images)
        runner = LiteModel(model_content=model_content).batch
        found = agreement([np.asarray(x) for x in reference.predict(check_images, batch_size=64, verbose=0)],
                          runner(check_images))
        check_agreement(found, embed.precision, embed.tolerance, embed.min_cosine, out_dir)
        checked = f"; LiteRT {embed.precision} vs Keras on {len(check_images)} check images: {found.describe()}"
    else:
        runner = KerasRunner(reference, embed.batch_size)
    return _Runner(runner, model_content), [int(output.shape[-1]) for output in reference.outputs], checked


def main(argv: list[str] | None = None) -> int:
    return stage_main("embed", __doc__, run, {"augmented_dir": "augmented dataset", "out_dir": "embeddings folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
