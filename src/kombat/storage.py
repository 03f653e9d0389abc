"""Disk at the edge: dataset folders (images.npy + manifest.csv) written atomically.

Each stage hands over a folder holding one uint8 array of frames and a manifest with one row per
frame, so every stage reads and writes the same shape and DVC tracks two files, not thousands.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kombat.errors import DataError

IMAGES_FILE = "images.npy"
MANIFEST_FILE = "manifest.csv"
LANDMARKS_FILE = "landmarks.npy"  # only when the config embeds pose: (N, people, 33, 5) float32 (kombat.pose)
EMBEDDINGS_META_FILE = "meta.json"  # embeddings: inputs, layers, runtime, precision, and "check" (below)
# embeddings: the backbone inputs the embed stage checked LiteRT on and calibrated int8 with, which the
# package stage converts play's embedder with and checks it against (meta.json's "check": their inputs and rows)
CHECK_IMAGES_FILE = "check_images.npy"


@dataclass
class Dataset:
    """Frames (N, H, W, 3) uint8 RGB and one manifest row per frame, and, when the config embeds pose, each
    frame's BlazePose landmarks in its own pixels (found on the full-size frame: kombat.pose)."""

    images: np.ndarray
    manifest: pd.DataFrame
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.images) != len(self.manifest):
            raise ValueError(f"{len(self.images)} images but {len(self.manifest)} manifest rows")
        if self.landmarks is not None and len(self.landmarks) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.landmarks)} rows of landmarks")

    def select(self, mask: np.ndarray | pd.Series) -> Dataset:
        mask = np.asarray(mask, dtype=bool)
        return Dataset(self.images[mask], self.manifest[mask].reset_index(drop=True),
                       None if self.landmarks is None else self.landmarks[mask])


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it replaces `final` in one rename.

    A run that fails or is killed leaves `final` as it was (the temporary folder is removed on
    failure, and a stale one from a SIGKILL is ignored and cleaned on the next run).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def write_dataset(folder: Path, dataset: Dataset) -> None:
    """Write `dataset` into `folder` (call inside `atomic_dir`)."""
    np.save(folder / IMAGES_FILE, np.ascontiguousarray(dataset.images, dtype=np.uint8))
    dataset.manifest.to_csv(folder / MANIFEST_FILE, index=False)
    if dataset.landmarks is not None:
        np.save(folder / LANDMARKS_FILE, np.ascontiguousarray(dataset.landmarks, dtype=np.float32))


class NpyRows:
    """Rows of a 2-D or higher .npy file read and written by plain file I/O at their offsets.

    A memory map would do the same, but every page it touches counts in the process's resident
    memory until it is unmapped, so a stage streaming a large file through one would grow with the
    data; this reads and writes only the rows asked for.
    """

    def __init__(self, path: Path, mode: str = "r", shape: tuple[int, ...] | None = None, dtype=np.float32) -> None:
        self.path = Path(path)
        if mode == "w":  # a new file of `shape`, rows filled in later (any order)
            self.shape, self.dtype = tuple(shape), np.dtype(dtype)
            self.file = open(self.path, "w+b")
            np.lib.format.write_array_header_1_0(self.file, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                             "fortran_order": False, "shape": self.shape})
            self.offset = self.file.tell()
            self.file.truncate(self.offset + int(np.prod(self.shape)) * self.dtype.itemsize)
        else:
            self.file = open(self.path, "rb")
            major, _ = np.lib.format.read_magic(self.file)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            self.shape, fortran, self.dtype = read_header(self.file)
            if fortran:
                raise DataError(f"{self.path}: Fortran-ordered arrays are not supported")
            self.offset = self.file.tell()
        self.row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        with self.lock:  # threads share the file's position (kombat.features.embed_litert)
            self.file.seek(self.offset + start * self.row_bytes)
            data = self.file.read((stop - start) * self.row_bytes)
        return np.frombuffer(data, self.dtype).reshape(stop - start, *self.shape[1:])

    def write(self, start: int, rows: np.ndarray) -> None:
        self.file.seek(self.offset + start * self.row_bytes)
        self.file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())

    def close(self) -> None:
        self.file.close()


def read_manifest(folder: Path) -> pd.DataFrame:
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found (run the stage that makes {Path(folder).name}/ first)")
    try:
        return pd.read_csv(path, keep_default_na=False, dtype={"actor": str, "source": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse: {str(exc).splitlines()[0]}") from None


def read_dataset(folder: Path, mmap: bool = False) -> Dataset:
    folder = Path(folder)
    manifest = read_manifest(folder)
    images_path = folder / IMAGES_FILE
    try:
        images = np.load(images_path, mmap_mode="r" if mmap else None)
    except (OSError, ValueError) as exc:
        raise DataError(f"{images_path}: cannot read: {exc}") from None
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    if len(images) != len(manifest):
        raise DataError(f"{folder}: {len(images)} images but {len(manifest)} manifest rows")
    return Dataset(images, manifest, read_landmarks(folder, len(images), mmap))


def read_landmarks(folder: Path, n_frames: int, mmap: bool = False) -> np.ndarray | None:
    """A dataset folder's landmarks (N, people, 33, 5) float32, or None when it has none."""
    path = Path(folder) / LANDMARKS_FILE
    if not path.is_file():
        return None
    try:
        landmarks = np.load(path, mmap_mode="r" if mmap else None)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    if landmarks.ndim != 4 or landmarks.shape[0] != n_frames or landmarks.shape[2:] != (33, 5) \
            or landmarks.dtype != np.float32:
        raise DataError(f"{path}: expected ({n_frames}, people, 33, 5) float32, got {landmarks.shape} {landmarks.dtype}")
    return landmarks


def file_digest(*paths: Path) -> str:
    """Short sha256 over files' bytes: the data fingerprint logged with every run."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def project_root(start: Path | None = None) -> Path:
    """The folder holding dvc.yaml or params.yaml, searched upward from `start` (or cwd)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() or (folder / "params.yaml").is_file():
            return folder
    return here


def read_embeddings(folder: Path, inputs: tuple[str, ...], layer: str) -> tuple[np.ndarray, pd.DataFrame]:
    """One layer's pooled embeddings (N, C) float32 of each input, side by side, and their manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    parts = []
    for kind in inputs:
        path = folder / kind / f"{layer}.npy"
        if not path.is_file():
            raise DataError(f"{path}: no {kind} embeddings for layer {layer!r}; add them to embed.candidate_inputs "
                            f"and backbone.candidate_layers and run `dvc repro embed`")
        values = np.load(path, mmap_mode="r")
        if values.ndim != 2 or len(values) != len(manifest):
            raise DataError(f"{path}: shape {values.shape} does not match {len(manifest)} manifest rows")
        parts.append(values)
    return (parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)), manifest
