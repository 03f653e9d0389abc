"""What the recorder and the labeller draw on their windows, and how they read keys: OpenCV only.

Pure drawing functions (an image in, an image out) so they are testable without a display.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # our one-line errors say what OpenCV's camera logs would

import cv2  # noqa: E402
import numpy as np

from kombat.errors import DisplayError

LABEL_COLOURS = {"punch": (60, 60, 230), "kick": (230, 140, 40), "other": (90, 180, 90), None: (160, 160, 160)}  # BGR
WIDTH = 800  # the window's width; frames are scaled to it
MAX_HEIGHT = 450  # ... or to this height, if taller (portrait video)

# Keys as cv2.waitKeyEx returns them (X11: Qt and GTK builds alike).
KEY_LEFT, KEY_RIGHT, KEY_ESC, KEY_TAB, KEY_DELETE = 65361, 65363, 27, 9, 65535

if "QT_QPA_FONTDIR" not in os.environ and Path("/usr/share/fonts/truetype/dejavu").is_dir():
    os.environ["QT_QPA_FONTDIR"] = "/usr/share/fonts/truetype/dejavu"  # opencv-python's Qt ships no fonts


def no_display() -> bool:
    """True where no window can open. On Linux OpenCV's Qt aborts the whole process (no exception to catch)
    when there is no X or Wayland display, unless QT_QPA_PLATFORM names another platform."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")  # offscreen, vnc, ...: no display needed; xcb, wayland: one is
    return (sys.platform.startswith("linux") and not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY"))
            and (not platform or platform.startswith(("xcb", "wayland"))))


def require_display(window: str, otherwise: str = "") -> None:
    """A one-line DisplayError where `window` cannot open (the recorder asks before its camera opens)."""
    if no_display():
        raise DisplayError(f"no display to open {window} on (DISPLAY is not set): run it in a desktop session{otherwise}")


def open_window(name: str) -> None:
    """A plain window sized to its image (no Qt toolbar)."""
    require_display(f"the {name!r} window")
    cv2.namedWindow(name, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)


def fit(frame_bgr: np.ndarray, width: int = WIDTH, max_height: int = MAX_HEIGHT) -> np.ndarray:
    """The frame scaled to the window's width, or to `max_height` if it is taller (a phone's portrait
    video), centred on black sides: the window keeps its width and fits on a laptop screen."""
    h, w = frame_bgr.shape[:2]
    scale = min(width / w, max_height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != (w, h):
        frame_bgr = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
    left = (width - size[0]) // 2
    return cv2.copyMakeBorder(frame_bgr, 0, 0, left, width - size[0] - left, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def put_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.6,
             colour: tuple[int, int, int] = (255, 255, 255), thickness: int = 1) -> None:
    """Text with a dark outline, readable on any background (in place)."""
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def banner(image: np.ndarray, text: str, label: str | None, scale: float = 1.4) -> np.ndarray:
    """A band across the top of `image` in the label's colour with `text` centred in it."""
    out = image.copy()
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 3)
    band = h + 30
    cv2.rectangle(out, (0, 0), (out.shape[1], band), LABEL_COLOURS.get(label, LABEL_COLOURS[None]), -1)
    put_text(out, text, ((out.shape[1] - w) // 2, band - 15), scale, (255, 255, 255), 3)
    return out


def timeline(width: int, duration: float, segments: list[tuple[float, float, str]], now: float,
             selected: int | None = None, height: int = 46) -> np.ndarray:
    """A bar for [0, duration] s: segments in their label's colour (the selected one outlined), ticks
    every second, and the playhead at `now`."""
    bar = np.full((height, width, 3), 40, np.uint8)
    scale = (width - 1) / max(duration, 1e-6)
    for second in range(int(duration) + 1):
        x = round(second * scale)
        cv2.line(bar, (x, height - 8), (x, height - 1), (120, 120, 120), 1)
    for i, (start, end, label) in enumerate(segments):
        x0, x1 = round(start * scale), max(round(end * scale), round(start * scale) + 1)
        cv2.rectangle(bar, (x0, 8), (x1, height - 12), LABEL_COLOURS.get(label, LABEL_COLOURS[None]), -1)
        if i == selected:
            cv2.rectangle(bar, (x0, 4), (x1, height - 8), (255, 255, 255), 2)
    x = round(min(max(now, 0.0), duration) * scale)
    cv2.line(bar, (x, 0), (x, height - 1), (0, 255, 255), 2)
    return bar


def stack(*parts: np.ndarray) -> np.ndarray:
    """Images of the same width, one under the other."""
    return np.concatenate(parts, axis=0)
