"""The article's augmentation, one draw per clip copy: neighbouring frames share it, identical bytes
in any process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from kombat.augment import article_pipeline, augment_clip, augment_clip_with_landmarks

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


def _landmarks(n: int, seed: int = 5) -> np.ndarray:
    points = np.zeros((n, 1, 33, 5), np.float32)
    rng = np.random.default_rng(seed)
    points[..., :2] = rng.uniform(5, 50, (n, 1, 33, 2))
    points[..., 2:] = rng.uniform(0, 1, (n, 1, 33, 3))
    return points


def test_a_flip_moves_the_landmarks_as_pose_on_the_flipped_frame_would():
    from kombat.compat import imgaug
    from kombat.pose import mirror_landmarks

    _, iaa = imgaug()
    clip, points = clip_of_a_moving_square(3), _landmarks(3)
    points[2] = 0  # nobody found in the last frame
    [(images, moved)] = augment_clip_with_landmarks(clip, points, 1, iaa.Fliplr(1.0))
    assert np.array_equal(images, clip[:, :, ::-1])
    assert np.allclose(moved[:2], mirror_landmarks(points[:2], clip.shape[2]), atol=1e-4)
    assert not moved[2].any()


def test_landmarks_follow_their_frame_through_the_same_draw():
    """A landmark on a bright dot is still on the dot after crop, flip, scale, rotation and shear; the
    images are the ones augment_clip makes (the keypoints draw nothing from the random state)."""
    from kombat.compat import imgaug

    _, iaa = imgaug()
    frames = np.full((4, 56, 100, 3), 90, np.uint8)
    points = np.zeros((4, 1, 33, 5), np.float32)
    for i in range(4):
        x, y = 30 + 10 * i, 20 + 5 * i
        frames[i, y - 1 : y + 2, x - 1 : x + 2] = 255
        points[i, 0, :, :2] = (x + 0.5, y + 0.5)  # the dot's centre, in imgaug's pixel coordinates
        points[i, 0, :, 4] = 1
    geometry = iaa.Sequential([iaa.Fliplr(0.5), iaa.Affine(scale=(0.8, 1.2), translate_percent=(-0.1, 0.1),
                                                            rotate=(-5, 5), shear=(-5, 5), order=1)])
    geometry.seed_(3)
    for images, moved in augment_clip_with_landmarks(frames, points, 6, geometry):
        for image, point in zip(images, moved[:, 0, 0, :2]):
            ys, xs = np.nonzero(image[..., 0] > 150)
            assert np.hypot(xs.mean() + 0.5 - point[0], ys.mean() + 0.5 - point[1]) < 1.0
    clip = np.random.default_rng(0).integers(0, 256, size=(3, 56, 100, 3), dtype=np.uint8)
    with_points = augment_clip_with_landmarks(clip, _landmarks(3), 4, article_pipeline(44))
    assert all(np.array_equal(a, b) for a, (b, _) in zip(augment_clip(clip, 4, article_pipeline(44)), with_points))
