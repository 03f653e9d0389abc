"""The article's augmentation, one draw per clip copy: neighbouring frames share it, identical bytes
in any process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from kombat.augment import article_pipeline, augment_clip

from .conftest import drawn_frame

SCRIPT = """
import hashlib, numpy as np
from kombat.augment import article_pipeline, augment_clip
clip = np.random.default_rng(0).integers(0, 256, size=(6, 56, 100, 3), dtype=np.uint8)
print(hashlib.sha256(np.stack(augment_clip(clip, 8, article_pipeline(44))).tobytes()).hexdigest())
"""


def test_identical_bytes_in_separate_processes():
    digests = {subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in (1, 2)}
    assert len(digests) == 1


def clip_of_a_moving_square(n: int) -> np.ndarray:
    """A still scene in which only a small square moves: what changes between frames is the square."""
    import cv2

    scene = cv2.resize(drawn_frame("other", 3), (100, 56))
    frames = np.repeat(scene[None], n, axis=0)
    for i in range(n):
        frames[i, 40:48, 10 + 6 * i : 18 + 6 * i] = 255
    return frames


def test_every_frame_of_a_copy_gets_the_same_augmentation():
    clip = clip_of_a_moving_square(6)
    copies = augment_clip(clip, copies=12, pipeline=article_pipeline(44))
    assert len(copies) == 12 and all(c.shape == clip.shape and c.dtype == np.uint8 for c in copies)
    for frames in copies:
        # The same draw on each frame: where the input frames agree, the augmented frames agree too,
        # so the motion between two ticks is the square's, not the augmenter's.
        for a, b in zip(frames[:-1], frames[1:]):
            moved = np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > 0
            assert moved.mean() < 0.12, "neighbouring frames of one copy were augmented differently"
    assert sum(not np.array_equal(copies[k][0], clip[0]) for k in range(12)) >= 9  # copies differ from the source
    assert not np.array_equal(copies[0], copies[1])  # and from each other


def test_copies_are_seeded():
    clip = clip_of_a_moving_square(3)
    first = augment_clip(clip, copies=4, pipeline=article_pipeline(44))
    assert all(np.array_equal(a, b) for a, b in zip(first, augment_clip(clip, copies=4, pipeline=article_pipeline(44))))
    assert not all(np.array_equal(a, b) for a, b in zip(first, augment_clip(clip, 4, article_pipeline(45))))
