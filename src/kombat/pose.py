"""BlazePose (the models behind MediaPipe Pose) on LiteRT: an RGB frame -> 33 landmarks per person.

MediaPipe's CPU graphs redone in numpy and OpenCV (pose_detection_cpu, pose_detection_to_roi,
pose_landmark_by_roi_cpu, pose_landmarks_to_roi): the geometry as pure functions, the two models
run through kombat.lite. No mediapipe import: it pins a protobuf TensorFlow cannot share. Copied
into the package beside play.py, so extract (training) and play find landmarks the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

if __package__:  # kombat.pose (the pipeline and its tests)
    from kombat import lite
else:  # beside play.py in a package folder
    import lite

# The two files inside the mediapipe==0.10.21 wheel on PyPI (Apache-2.0), fetched by kombat.pose_models
# (`make setup`); their sha256 is checked whenever they are loaded.
WHEEL = "mediapipe==0.10.21"
MODELS = {
    "detector": ("mediapipe/modules/pose_detection/pose_detection.tflite",
                 "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
    "landmarks": ("mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                  "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
}

# pose_detection_cpu.pbtxt: the detector's input, its SSD anchors and how its outputs decode.
DETECTOR_SIZE = 224
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_CELL = 2  # aspect ratio 1.0 plus the interpolated scale; fixed anchor size: both are 1 x 1
N_KEYPOINTS = 4  # hips' centre, a point on the body's circle, shoulders' centre, one on the upper body's
SCORE_CLIP = 100.0
MIN_DETECTION_SCORE = 0.5
NMS_MIN_IOU = 0.3  # weighted non-max suppression over boxes overlapping the best by more than this
# pose_detection_to_roi / pose_landmarks_to_roi: a square around the hips, rotated so the body is upright.
ROI_SCALE = 1.25
ROI_TARGET_ANGLE = np.pi / 2
# pose_landmark_by_roi_cpu: the landmark model's input, outputs and the presence that keeps a person tracked.
LANDMARK_SIZE = 256
N_LANDMARKS = 33  # then 2 auxiliary points (hips' centre, body circle) the next frame's ROI comes from
MIN_PRESENCE = 0.5
VALUES = 5  # per landmark: x, y (frame pixels), z (same scale as x), visibility, presence

# BlazePose's landmark order: what a horizontal flip turns each landmark into (left <-> right).
MIRROR = (0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23, 26, 25,
          28, 27, 30, 29, 32, 31)
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
FEATURES_PER_PERSON = N_LANDMARKS * 3  # x, y about the hips in torso lengths, and visibility


class PoseModelError(Exception):
    """A model file is missing or is not the file kombat was tested with; one line says which."""


# ---- geometry: pure functions of arrays --------------------------------------------------------


def anchors(size: int = DETECTOR_SIZE, strides: tuple[int, ...] = ANCHOR_STRIDES,
            per_cell: int = ANCHORS_PER_CELL) -> np.ndarray:
    """(N, 2) anchor centres (x, y) in [0, 1] in the detector's row order, as MediaPipe's SSD anchors:
    layers sharing a stride share a grid, each cell holding `per_cell` anchors per layer."""
    centres, layer = [], 0
    while layer < len(strides):
        same = next((k for k in range(layer, len(strides)) if strides[k] != strides[layer]), len(strides)) - layer
        cells = int(np.ceil(size / strides[layer]))
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, same * per_cell, axis=1).reshape(-1, 2))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def letterbox(width: int, height: int, size: int) -> np.ndarray:
    """2x3 affine taking frame pixels to a size x size tensor that holds the whole frame, centred, its
    aspect kept (MediaPipe's keep_aspect_ratio: the rest is padding)."""
    scale = size / max(width, height)
    return np.array([[scale, 0, (size - width * scale) / 2], [0, scale, (size - height * scale) / 2]], np.float64)


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., 2) through a 2x3 affine."""
    return points @ affine[:, :2].T + affine[:, 2]


def invert_affine(affine: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(affine, np.float64))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(x, np.float64)))  # = 1 / (1 + e^-x), without overflow


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchor_centres: np.ndarray,
                      size: int = DETECTOR_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detector's raw rows -> boxes (N, 4: xmin, ymin, xmax, ymax), keypoints (N, 4, 2) in [0, 1] of
    its input, and scores (N,): offsets in input pixels from each anchor's centre, score a clipped sigmoid."""
    offsets = raw_boxes.reshape(len(anchor_centres), -1) / size
    centre = offsets[:, :2] + anchor_centres
    half = offsets[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = offsets[:, 4:4 + 2 * N_KEYPOINTS].reshape(-1, N_KEYPOINTS, 2) + anchor_centres[:, None, :]
    scores = sigmoid(np.clip(raw_scores.reshape(-1), -SCORE_CLIP, SCORE_CLIP))
    return boxes, keypoints, scores


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (xmin, ymin, xmax, ymax) with each of `boxes`."""
    low, high = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, min_score: float = MIN_DETECTION_SCORE,
                 min_iou: float = NMS_MIN_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-max suppression: best first, each output the score-weighted mean box and
    keypoints of every remaining detection overlapping the best by more than `min_iou`, with the best's score."""
    remaining = np.flatnonzero(scores >= min_score)
    remaining = remaining[np.argsort(-scores[remaining], kind="stable")]
    kept = []
    while len(remaining):
        overlap = iou(boxes[remaining[0]], boxes[remaining]) > min_iou
        overlap[0] = True
        group, remaining = remaining[overlap], remaining[~overlap]
        weights = scores[group] / scores[group].sum()
        kept.append((weights @ boxes[group], np.tensordot(weights, keypoints[group], axes=1), float(scores[group[0]])))
    return kept


@dataclass(frozen=True)
class Roi:
    """A square in frame pixels, centred at (x, y), `size` wide, turned by `rotation` radians (clockwise
    on screen) so that the body inside stands upright in the crop."""

    x: float
    y: float
    size: float
    rotation: float

    def box(self) -> np.ndarray:
        """Its unrotated extent (xmin, ymin, xmax, ymax), to compare ROIs."""
        half = self.size / 2
        return np.array([self.x - half, self.y - half, self.x + half, self.y + half])


def roi_from_points(centre: np.ndarray, scale_point: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """MediaPipe's AlignmentPointsRects and RectTransformation (square_long): centred on the hips, a side of
    twice the distance to the scale point, times `scale`, rotated so the scale point is straight above."""
    dx, dy = scale_point - centre
    angle = ROI_TARGET_ANGLE - np.arctan2(-dy, dx)
    rotation = float(angle - 2 * np.pi * np.floor((angle + np.pi) / (2 * np.pi)))
    return Roi(float(centre[0]), float(centre[1]), float(2 * np.hypot(dx, dy) * scale), rotation)


def roi_affine(roi: Roi, size: int = LANDMARK_SIZE) -> np.ndarray:
    """2x3 affine taking crop pixels (size x size) to frame pixels: the ROI's square, rotated."""
    c, s = np.cos(roi.rotation), np.sin(roi.rotation)
    k = roi.size / size
    rotation = np.array([[c, -s], [s, c]]) * k
    offset = np.array([roi.x, roi.y]) - rotation @ np.array([size / 2, size / 2])
    return np.concatenate([rotation, offset[:, None]], axis=1)


def crop(frame: np.ndarray, roi: Roi, size: int = LANDMARK_SIZE, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """The ROI's pixels as a size x size image, upright."""
    return cv2.warpAffine(frame, invert_affine(roi_affine(roi, size)), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=border)


def project_landmarks(raw: np.ndarray, roi: Roi, size: int = LANDMARK_SIZE) -> np.ndarray:
    """The landmark model's (K, 5) rows (x, y, z in crop pixels, visibility and presence logits) -> frame
    pixels (z scaled as x), visibility and presence as probabilities."""
    out = np.empty_like(raw, dtype=np.float32)
    out[:, :2] = apply_affine(roi_affine(roi, size), raw[:, :2])
    out[:, 2] = raw[:, 2] * roi.size / size
    out[:, 3:] = sigmoid(raw[:, 3:5])
    return out


def mirror_landmarks(landmarks: np.ndarray, width: float) -> np.ndarray:
    """Landmarks (..., 33, >=2) of a frame `width` pixels wide -> those of the frame flipped left-right:
    x -> width - x, and each left landmark becomes the right one. Pixel centres sit at i + 0.5, so the
    flip of pixel column i is column width - 1 - i, whose centre is width - (i + 0.5)."""
    flipped = np.array(landmarks, dtype=np.float32, copy=True)[..., MIRROR, :]
    flipped[..., 0] = width - flipped[..., 0]
    return flipped


def left_to_right(landmarks: np.ndarray) -> np.ndarray:
    """People (people, 33, 5) in the order the head reads them: those found from left to right by their hips'
    centre, then those not found (all zeros). `PoseTracker` keeps people in the order it found them, which
    changes when one is lost and found again, and a flipped frame's people are mirrored in place: with more
    than one person, the same scene would reach the head in either order."""
    landmarks = np.asarray(landmarks, np.float32)
    found = landmarks[..., 4].any(axis=-1)
    hips_x = (landmarks[:, LEFT_HIP, 0] + landmarks[:, RIGHT_HIP, 0]) / 2
    return landmarks[np.lexsort((hips_x, ~found))]


def pose_features(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (people, 33, 5) -> a float32 vector of people x 99: per person, `left_to_right`, every
    landmark's (x, y) about the hips' centre in torso lengths (hips' centre to shoulders' centre), then its
    visibility. A person not found (presence 0 throughout, as `PoseTracker` leaves it) gives zeros."""
    landmarks = left_to_right(landmarks)
    out = np.zeros((len(landmarks), N_LANDMARKS, 3), np.float32)
    for person, points in enumerate(landmarks):
        if not points[:, 4].any():
            continue
        hips = (points[LEFT_HIP, :2] + points[RIGHT_HIP, :2]) / 2
        shoulders = (points[LEFT_SHOULDER, :2] + points[RIGHT_SHOULDER, :2]) / 2
        torso = max(float(np.hypot(*(shoulders - hips))), 1e-3)
        out[person, :, :2] = (points[:, :2] - hips) / torso
        out[person, :, 2] = points[:, 3]
    return out.reshape(-1)


# ---- the models: files checked, then run ---------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(models_dir: Path, name: str) -> Path:
    """A model file in `models_dir`, checked against the sha256 kombat was tested with."""
    member, expected = MODELS[name]
    path = Path(models_dir) / Path(member).name
    if not path.is_file():
        raise PoseModelError(f"{path}: BlazePose {name} model not found; `make setup` (python -m kombat.pose_models "
                             f"{models_dir}) fetches it from the {WHEEL} wheel on PyPI")
    found = sha256(path)
    if found != expected:
        raise PoseModelError(f"{path}: sha256 {found} is not the {expected} kombat was tested with")
    return path


@lru_cache(maxsize=1)
def _anchor_centres() -> np.ndarray:
    return anchors()


class PoseTracker:
    """Landmarks of up to `people` people, frame after frame, as MediaPipe tracks them: each person's next
    ROI comes from this frame's landmarks; the detector runs only while fewer than `people` are tracked
    (a person is lost when the landmark model's presence falls under MIN_PRESENCE)."""

    def __init__(self, models_dir: Path, people: int = 1, threads: int | None = None) -> None:
        self.people = people
        self.detector = lite.interpreter(model_path(models_dir, "detector"), threads=threads)
        self.landmarker = lite.interpreter(model_path(models_dir, "landmarks"), threads=threads)
        self.rois: list[Roi] = []
        self.detector_runs = 0

    def reset(self) -> None:
        """Forget who was tracked (a new clip)."""
        self.rois = []

    def detect(self, frame_rgb: np.ndarray) -> list[Roi]:
        """ROIs of the people the detector finds in the frame, best first."""
        height, width = frame_rgb.shape[:2]
        to_tensor = letterbox(width, height, DETECTOR_SIZE)
        image = cv2.warpAffine(frame_rgb, to_tensor, (DETECTOR_SIZE, DETECTOR_SIZE), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        tensor = image.astype(np.float32)[None] / 127.5 - 1
        self.detector.set_tensor(self.detector.get_input_details()[0]["index"], tensor)
        self.detector.invoke()
        self.detector_runs += 1
        outputs = {o["shape"][-1]: self.detector.get_tensor(o["index"])[0] for o in self.detector.get_output_details()}
        boxes, keypoints, scores = decode_detections(outputs[4 + 2 * N_KEYPOINTS], outputs[1], _anchor_centres())
        back = invert_affine(to_tensor)
        rois = []
        for _, points, _ in weighted_nms(boxes, keypoints, scores):
            points = apply_affine(back, points * DETECTOR_SIZE)
            rois.append(roi_from_points(points[0], points[1]))
        return rois

    def landmarks(self, frame_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """The 33 landmarks (33, 5) and the auxiliary two in frame pixels inside `roi`, and the pose's presence."""
        tensor = crop(frame_rgb, roi).astype(np.float32)[None] / 255
        self.landmarker.set_tensor(self.landmarker.get_input_details()[0]["index"], tensor)
        self.landmarker.invoke()
        outputs = {tuple(o["shape"][1:]): o["index"] for o in self.landmarker.get_output_details()}
        raw = self.landmarker.get_tensor(outputs[(195,)])[0].reshape(-1, VALUES)
        presence = float(self.landmarker.get_tensor(outputs[(1,)])[0, 0])  # a probability already (no logit)
        return project_landmarks(raw, roi), presence

    def __call__(self, frame_rgb: np.ndarray) -> np.ndarray:
        """(people, 33, 5) landmarks of this frame in its pixels; zeros for a person not found."""
        found: list[np.ndarray] = []
        rois: list[Roi] = []
        for roi in self.rois:
            points, presence = self.landmarks(frame_rgb, roi)
            if presence >= MIN_PRESENCE:
                found.append(points)
                rois.append(roi_from_points(points[N_LANDMARKS, :2], points[N_LANDMARKS + 1, :2]))
        if len(found) < self.people:
            for roi in self.detect(frame_rgb):
                if len(found) >= self.people:
                    break
                if any(iou(roi.box(), other.box()[None])[0] > 0.5 for other in rois):
                    continue  # someone already tracked
                points, presence = self.landmarks(frame_rgb, roi)
                if presence >= MIN_PRESENCE:
                    found.append(points)
                    rois.append(roi_from_points(points[N_LANDMARKS, :2], points[N_LANDMARKS + 1, :2]))
        self.rois = rois
        out = np.zeros((self.people, N_LANDMARKS, VALUES), np.float32)
        for person, points in enumerate(found):
            out[person] = points[:N_LANDMARKS]
        return out


def scaled(landmarks: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Landmarks in the pixels of a frame `from_size` (width, height) -> those of the same frame resized to
    `to_size` (x and z by the widths' ratio, y by the heights')."""
    out = np.array(landmarks, dtype=np.float32, copy=True)
    out[..., [0, 2]] *= to_size[0] / from_size[0]
    out[..., 1] *= to_size[1] / from_size[1]
    return out


class FramePose:
    """A full-size BGR frame (as OpenCV and kombat.video decode it) -> its landmarks (people, 33, 5) in the
    pixels of the model frame `size` (width, height) it is shrunk to, tracked from call to call. Picklable
    (the models load at the first call), so the video decoder's child process can run it beside the shrink."""

    def __init__(self, models_dir: Path | str, people: int, size: tuple[int, int], threads: int | None = None) -> None:
        self.models_dir, self.people, self.size, self.threads = Path(models_dir), people, tuple(size), threads
        self.tracker: PoseTracker | None = None

    def reset(self) -> None:
        """Forget who was tracked (the next frame is not the one after the last)."""
        if self.tracker is not None:
            self.tracker.reset()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "tracker": None}

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        if self.tracker is None:
            self.tracker = PoseTracker(self.models_dir, self.people, self.threads)
        height, width = frame_bgr.shape[:2]
        landmarks = self.tracker(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
        return scaled(landmarks, (width, height), self.size)
