"""Frame preprocessing shared by training and play: a camera or video frame -> the model's frame.

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
