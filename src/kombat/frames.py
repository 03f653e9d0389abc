"""Frame preprocessing shared by training and play: a camera or video frame -> the model's frame,
and two model frames -> the motion image.

numpy and OpenCV only: the extract stage calls it on training videos, and the package stage copies
this file beside play.py, so a frame is shrunk the same way in both (tested byte for byte).
"""

from __future__ import annotations

import cv2
import numpy as np


def to_model_frame(frame_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """A BGR frame of any size (as OpenCV decodes it) -> RGB (height, width, 3) uint8, shrunk with INTER_AREA."""
    small = cv2.resize(frame_bgr, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def motion_image(previous_rgb: np.ndarray, current_rgb: np.ndarray, gain: float) -> np.ndarray:
    """What moved between two model frames: |gray_now - gray_before| x gain, as an RGB (grey) uint8 image.

    One still frame cannot tell a jab from a guard; the difference of two ticks can (the limb that
    moved lights up, the room stays black).
    """
    before = cv2.cvtColor(previous_rgb, cv2.COLOR_RGB2GRAY)
    now = cv2.cvtColor(current_rgb, cv2.COLOR_RGB2GRAY)
    moved = np.clip(np.rint(cv2.absdiff(now, before).astype(np.float32) * gain), 0, 255).astype(np.uint8)
    return np.repeat(moved[..., None], 3, axis=-1)
