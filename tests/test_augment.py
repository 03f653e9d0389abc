"""The article's augmentation: copies in order, val/test untouched, identical bytes in any process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from kombat.augment import augment_images
from kombat.stages.augment import augment_dataset, preview_grid
from kombat.storage import Dataset

from .conftest import drawn_frame

SCRIPT = """
import hashlib, numpy as np
from kombat.augment import augment_images
images = np.random.default_rng(0).integers(0, 256, size=(12, 56, 100, 3), dtype=np.uint8)
print(hashlib.sha256(augment_images(images, 16, 44).tobytes()).hexdigest())
"""


def test_identical_bytes_in_separate_processes():
    digests = {subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in (1, 2)}
    assert len(digests) == 1


def _frames(n: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(drawn_frame(["punch", "kick", "other"][i % 3], i), (100, 56)) for i in range(n)])


def test_copies_are_augmented_and_seeded():
    images = _frames(4)
    out = augment_images(images, copies=5, seed=44)
    assert out.shape == (20, 56, 100, 3) and out.dtype == np.uint8
    assert np.array_equal(out, augment_images(images, copies=5, seed=44))
    assert not np.array_equal(out, augment_images(images, copies=5, seed=45))
    changed = [not np.array_equal(out[i], images[i // 5]) for i in range(20)]
    assert sum(changed) >= 15  # most copies differ from their source
    assert augment_images(images, copies=0, seed=44).shape == (0, 56, 100, 3)


def test_only_training_frames_are_augmented():
    images = _frames(6)
    manifest = pd.DataFrame({"source": [f"v{i}" for i in range(6)], "actor": "a", "time": 0.0,
                             "label": ["punch", "kick", "other"] * 2, "split": ["train"] * 3 + ["val", "test", "test"]})
    out = augment_dataset(Dataset(images, manifest), copies=3, seed=44)
    m = out.manifest
    assert len(m) == 6 + 3 * 3
    assert np.array_equal(out.images[:6], images)  # originals first, untouched
    assert set(m[m["copy"] > 0].split) == {"train"}
    assert m[m["copy"] > 0].groupby("source").size().to_dict() == {"v0": 3, "v1": 3, "v2": 3}
    grid = preview_grid(out, rows=2, copies=3)
    assert grid.shape[1] == 4 * 100 and grid.shape[0] >= 2 * 56
