"""The article's imgaug pipeline, every augmenter on, applied one draw per clip copy.

The article's text lists these augmenters (its repository had them commented out). Renamed
augmenters use imgaug 0.4's current names (LinearContrast for ContrastNormalization,
BlendAlphaFrequencyNoise for FrequencyNoiseAlpha). Two changes keep the output identical across
processes: explicit mode lists instead of `ia.ALL` (a set, whose order changes between
processes), and a pipeline whose every child is seeded, drawn from in a fixed order.
"""

from __future__ import annotations

import numpy as np

from kombat.compat import imgaug
from kombat.pose import MIRROR

# imgaug's ia.ALL for these parameters, spelled out in a fixed order.
PAD_MODES = ["constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect", "symmetric", "wrap"]
AFFINE_MODES = ["constant", "edge", "symmetric", "reflect", "wrap"]


def article_pipeline(seed: int):
    """The article's augmentation sequence (100x56 frames, seed 44 in the article)."""
    ia, iaa = imgaug()

    def sometimes(augmenter):
        return iaa.Sometimes(0.5, augmenter)

    pipeline = iaa.Sequential(
        [
            iaa.Fliplr(0.5),
            sometimes(iaa.CropAndPad(percent=(-0.05, 0.1), pad_mode=PAD_MODES, pad_cval=(0, 255))),
            sometimes(
                iaa.Affine(
                    scale={"x": (0.8, 1.2), "y": (0.8, 1.2)},
                    translate_percent={"x": (-0.1, 0.1), "y": (-0.1, 0.1)},
                    rotate=(-5, 5),
                    shear=(-5, 5),
                    order=[0, 1],
                    cval=(0, 255),
                    mode=AFFINE_MODES,
                )
            ),
            iaa.Grayscale(alpha=(0.0, 1.0)),
            iaa.Invert(0.05, per_channel=False),
            iaa.SomeOf(
                (0, 5),
                [
                    iaa.OneOf([iaa.GaussianBlur((0, 2.0)), iaa.AverageBlur(k=(2, 5)), iaa.MedianBlur(k=(3, 5))]),
                    iaa.Sharpen(alpha=(0, 1.0), lightness=(0.75, 1.5)),
                    iaa.Emboss(alpha=(0, 1.0), strength=(0, 2.0)),
                    iaa.AdditiveGaussianNoise(loc=0, scale=(0.0, 0.01 * 255), per_channel=0.5),
                    iaa.Add((-10, 10), per_channel=0.5),
                    iaa.AddToHueAndSaturation((-20, 20)),
                    iaa.OneOf(
                        [
                            iaa.Multiply((0.9, 1.1), per_channel=0.5),
                            iaa.BlendAlphaFrequencyNoise(
                                exponent=(-2, 0),
                                foreground=iaa.Multiply((0.9, 1.1), per_channel=True),
                                background=iaa.LinearContrast((0.9, 1.1)),
                            ),
                        ]
                    ),
                    iaa.LinearContrast((0.5, 2.0), per_channel=0.5),
                ],
                random_order=True,
            ),
        ],
        random_order=True,
    )
    # `seed=` on the parent alone leaves the children on imgaug's global RNG: seed the whole tree.
    pipeline.seed_(seed)
    return pipeline


def draws(pipeline, copies: int) -> list:
    """`copies` draws of the pipeline, in order: each a deterministic augmenter that replays itself on
    every frame it is given (one per copy of a clip)."""
    return [pipeline.to_deterministic() for _ in range(copies)]


def prepare_worker() -> None:
    """Ready a worker process for apply_draws: imgaug imported through the NumPy 2 patch, and one
    pipeline built, since some augmenters fill class-level tables in their constructors (the hue
    table of AddToHueAndSaturation) that unpickled draws expect to find."""
    article_pipeline(0)


def apply_draws(job: tuple[np.ndarray, list]) -> list[np.ndarray]:
    """One clip's frames (T, H, W, 3) uint8 through each of its draws: one augmented copy per draw, so
    neighbouring frames share crop, flip, colour and noise, and the motion between them is the
    fighter's, not the augmenter's. A job for kombat.workers (module level, picklable)."""
    frames, clip_draws = job
    return [np.stack([draw.augment_image(frame) for frame in frames]) for draw in clip_draws]


def augment_clip(frames: np.ndarray, copies: int, pipeline) -> list[np.ndarray]:
    """`copies` augmented copies of one clip's frames, drawn from `pipeline` (draws, apply_draws)."""
    return apply_draws((frames, draws(pipeline, copies)))


def augment_with_landmarks(draw, frame: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame (H, W, 3) and its landmarks (people, 33, 5) in its pixels through one deterministic draw, as
    imgaug keypoints: the same crop, flip, scale, rotation and shear move the image and its landmarks. imgaug
    moves points, not names: after a flip the left wrist's point is where a right wrist is, so two probe
    points (left and right of the centre) tell whether the draw flipped, and then left and right swap
    (kombat.pose.MIRROR). A person not found stays zeros."""
    ia, _ = imgaug()
    height, width = frame.shape[:2]
    points = np.asarray(landmarks, np.float32)[..., :2].reshape(-1, 2)
    probes = np.array([[width * 0.25, height * 0.5], [width * 0.75, height * 0.5]], np.float32)
    keypoints = ia.KeypointsOnImage.from_xy_array(np.concatenate([points, probes]), shape=frame.shape)
    image, moved = draw(image=frame, keypoints=keypoints)
    xy = moved.to_xy_array()
    out = np.array(landmarks, np.float32, copy=True)
    out[..., :2] = xy[:-2].reshape(*out.shape[:-1], 2)
    if xy[-2, 0] > xy[-1, 0]:  # the probes swapped sides: the draw flipped the frame
        out = out[..., MIRROR, :]
    out[~np.asarray(landmarks)[..., 4].any(axis=-1)] = 0
    return image, out


def apply_draws_with_landmarks(job: tuple[np.ndarray, np.ndarray, list]) -> list[tuple[np.ndarray, np.ndarray]]:
    """apply_draws, the landmarks (T, people, 33, 5) moved with their frames by the same draw."""
    frames, landmarks, clip_draws = job
    out = []
    for draw in clip_draws:
        pairs = [augment_with_landmarks(draw, frame, points) for frame, points in zip(frames, landmarks)]
        out.append((np.stack([image for image, _ in pairs]), np.stack([points for _, points in pairs])))
    return out


def augment_clip_with_landmarks(frames: np.ndarray, landmarks: np.ndarray, copies: int,
                                pipeline) -> list[tuple[np.ndarray, np.ndarray]]:
    """augment_clip, the landmarks (T, people, 33, 5) moved with their frames by the same draw."""
    return apply_draws_with_landmarks((frames, landmarks, draws(pipeline, copies)))
