"""One preprocessing for training and play: the frames and motion images play computes from a video
equal, byte for byte, the ones the extract and embed stages compute from it."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from kombat.data import clip_starts, previous_rows
from kombat.frames import motion_image
from kombat.play import Ticker, TickModel
from kombat.embedder import backbone_input
from kombat.stages.extract import run as extract
from kombat.storage import read_dataset


def play_frames(video, width: int, height: int, interval: float) -> list[np.ndarray]:
    """What play.py decides on for a video file: frames read by OpenCV, at its ticks, preprocessed."""
    from kombat.frames import to_model_frame

    capture = cv2.VideoCapture(str(video))
    fps, ticker, decided, index = capture.get(cv2.CAP_PROP_FPS), Ticker(interval), [], 0
    while (read := capture.read())[0]:
        if ticker.due(index / fps):
            decided.append(to_model_frame(read[1], width, height))
        index += 1
    return decided


def test_play_frames_equal_training_frames_byte_for_byte(cfg, video_raw_dir, tmp_path):
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, raw_dir=str(video_raw_dir)))
    extract(cfg, video_raw_dir, tmp_path / "frames")
    frames = read_dataset(tmp_path / "frames")
    rows = np.flatnonzero((frames.manifest["source"] == "videos/ann.mp4").to_numpy())
    played = play_frames(video_raw_dir / "videos/ann.mp4", cfg.extract.width, cfg.extract.height, cfg.play.interval_s)
    assert len(rows) > 20 and frames.manifest.loc[rows, "tick"].tolist() == list(range(len(rows)))
    assert all(np.array_equal(played[tick], frames.images[row]) for tick, row in enumerate(rows))


def test_play_motion_images_equal_the_embed_stages(cfg, video_raw_dir, tmp_path):
    extract(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, raw_dir=str(video_raw_dir))), video_raw_dir,
            tmp_path / "frames")
    frames = read_dataset(tmp_path / "frames")
    rows = np.flatnonzero((frames.manifest["source"] == "videos/bob.mp4").to_numpy())
    for gap in (1, 3):
        previous = previous_rows(clip_starts(frames.manifest), gap)
        trained = backbone_input(frames.images, rows, "motion", previous, 4.0)
        seen = []
        tick_model = TickModel(lambda image: seen.append(image) or np.zeros(2, np.float32),
                               lambda window: window.sum(axis=0), ["motion"], window=2, motion_gap=gap, motion_gain=4.0)
        for row in rows:
            tick_model(frames.images[row])
        assert np.array_equal(np.stack(seen), trained)
        assert not trained[0].any() and trained[gap:].any()  # the first tick has nothing to move from


def test_motion_image_lights_up_what_moved():
    before = np.zeros((56, 100, 3), np.uint8)
    after = before.copy()
    after[10:20, 30:40] = 30
    moved = motion_image(before, after, gain=4.0)
    assert moved.shape == (56, 100, 3) and moved.dtype == np.uint8
    assert (moved[10:20, 30:40] == 120).all() and moved.sum() == 120 * 100 * 3
    assert motion_image(after, after, 4.0).max() == 0
