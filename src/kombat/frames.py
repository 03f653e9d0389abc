"""Frame preprocessing shared by training and play: a camera or video frame -> the model's frame,
and two model frames -> the image the backbone sees of a tick (`input_image`).

numpy and OpenCV only: the extract and embed stages call it on training videos, and the package
stage copies this file beside play.py, so a frame is shrunk, and its motion seen, the same way in
both (tested byte for byte).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

FLOW_SCALE = 2  # DIS runs on the model frames upscaled 2x (100x56 -> 200x112): finer motion, 2 ms a frame


def to_model_frame(frame_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """A BGR frame of any size (as OpenCV decodes it) -> RGB (height, width, 3) uint8, shrunk with INTER_AREA."""
    small = cv2.resize(frame_bgr, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def _grey_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def motion_image(previous_rgb: np.ndarray, current_rgb: np.ndarray, gain: float) -> np.ndarray:
    """What changed between two model frames: |gray_now - gray_before| x gain, as an RGB (grey) uint8 image.

    One still frame cannot tell a jab from a guard; the difference of two ticks can (the limb that
    moved lights up). So does everything else that changed: the camera's shake, a passer-by, flicker.
    """
    before = cv2.cvtColor(previous_rgb, cv2.COLOR_RGB2GRAY)
    now = cv2.cvtColor(current_rgb, cv2.COLOR_RGB2GRAY)
    moved = np.clip(np.rint(cv2.absdiff(now, before).astype(np.float32) * gain), 0, 255).astype(np.uint8)
    return _grey_rgb(moved)


_per_thread = threading.local()


def _dis():
    """This thread's DIS optical flow: OpenCV keeps its working buffers in the object and lets go of
    the GIL in `calc`, so threads that share one (the embed stage's) would overwrite each other's."""
    if not hasattr(_per_thread, "dis"):
        _per_thread.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return _per_thread.dis


def flow_image(previous_rgb: np.ndarray, current_rgb: np.ndarray, gain: float) -> np.ndarray:
    """How fast each pixel moved relative to the camera: OpenCV's DIS optical flow (medium preset) between
    two model frames upscaled FLOW_SCALE times, the median flow vector subtracted, its magnitude x gain,
    shrunk back to the model frame's size, as an RGB (grey) uint8 image.

    The median vector is the camera's own motion (shake, a pan: the room fills most of the frame and
    moves as one), so what remains is what moved in the room, the fighter's limbs above all. A
    brightness change (flicker) moves nothing, so it stays dark, unlike in `motion_image`. A median
    over 2D vectors ignores up to half the frame moving otherwise; a fitted affine or homography would
    also remove a zoom or a roll, but a tenth of a second of hand-held camera is close to a shift,
    and a fit can lock onto a fighter who fills the frame.
    """
    height, width = current_rgb.shape[:2]
    size = (width * FLOW_SCALE, height * FLOW_SCALE)
    before, now = (cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_LINEAR)
                   for image in (previous_rgb, current_rgb))
    flow = _dis().calc(before, now, None)
    relative = flow - np.median(flow.reshape(-1, 2), axis=0)
    speed = cv2.resize(np.hypot(relative[..., 0], relative[..., 1]), (width, height), interpolation=cv2.INTER_AREA)
    return _grey_rgb(np.clip(np.rint(speed * gain), 0, 255).astype(np.uint8))


def input_image(kind: str, previous_rgb: np.ndarray, current_rgb: np.ndarray, gain: float) -> np.ndarray:
    """The image the backbone embeds for a tick, as `kind` (one of kombat.schema.INPUTS) sees it: the frame itself,
    or its motion image or flow image against the frame `embed.motion_gap` ticks before."""
    if kind == "still":
        return current_rgb
    if kind == "motion":
        return motion_image(previous_rgb, current_rgb, gain)
    if kind == "flow":
        return flow_image(previous_rgb, current_rgb, gain)
    raise ValueError(f"unknown input {kind!r}")
