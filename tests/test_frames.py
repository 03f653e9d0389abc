"""One preprocessing for training and play: the frames, motion and flow images play computes from a
video equal, byte for byte, the ones the extract and embed stages compute from it."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from kombat.data import clip_starts, previous_rows
from kombat.frames import flow_image, input_image, motion_image
from kombat.play import Ticker, TickModel
from kombat.features import backbone_input
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
    # play's ticks start at 0: phase 0 of every_frame's tick streams
    rows = np.flatnonzero((frames.manifest["source"] == "videos/ann.mp4").to_numpy() &
                          (frames.manifest["phase"] == 0).to_numpy())
    played = play_frames(video_raw_dir / "videos/ann.mp4", cfg.extract.width, cfg.extract.height, cfg.play.interval_s)
    assert len(rows) > 20 and frames.manifest.loc[rows, "tick"].tolist() == list(range(len(rows)))
    assert all(np.array_equal(played[tick], frames.images[row]) for tick, row in enumerate(rows))


@pytest.mark.parametrize("kind, gain", [("motion", 4.0), ("flow", 25.0)])
def test_play_motion_and_flow_images_equal_the_embed_stages(cfg, video_raw_dir, tmp_path, kind, gain):
    extract(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, raw_dir=str(video_raw_dir))), video_raw_dir,
            tmp_path / "frames")
    frames = read_dataset(tmp_path / "frames")
    for phase in (0, 1):  # every tick stream of a clip, as play would see it had it started a frame later
        rows = np.flatnonzero((frames.manifest["source"] == "videos/bob.mp4").to_numpy() &
                              (frames.manifest["phase"] == phase).to_numpy())
        for gap in (1, 3):
            previous = previous_rows(clip_starts(frames.manifest), gap)
            trained = backbone_input(frames.images, rows, kind, previous, gain)
            seen = []
            tick_model = TickModel(lambda image: seen.append(image) or np.zeros(2, np.float32),
                                   lambda window: window.sum(axis=0), [kind], window=2, motion_gap=gap,
                                   gains={kind: gain})
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


def textured(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (56, 100, 3), np.uint8), (0, 0), 1.5)


def test_flow_image_ignores_the_camera_moving_and_the_light_changing_but_sees_a_limb():
    room = textured()
    shaken = np.roll(room, (1, 2), axis=(0, 1))  # the whole picture shifts: the camera moved
    assert flow_image(room, shaken, 25.0).mean() < 2
    assert motion_image(room, shaken, 4.0).mean() > 20  # the frame difference lights up everything
    brighter = np.clip(room.astype(int) + 25, 0, 255).astype(np.uint8)  # a flicker: nothing moved
    assert flow_image(room, brighter, 25.0).mean() < 2 and motion_image(room, brighter, 4.0).mean() > 60
    limb = room.copy()
    limb[20:30, 40:70] = 230
    struck = limb.copy()
    struck[20:30, 40:70], struck[20:30, 46:76] = room[20:30, 40:70], 230  # the bright limb moves 6 px right
    seen = flow_image(limb, struck, 25.0)[..., 0].astype(float)
    assert seen[18:32, 38:78].mean() > 50 and seen[40:, :].mean() < 2  # lit where the limb moved, dark elsewhere


def test_input_image_is_the_frame_or_the_chosen_motion():
    before, now = textured(1), textured(2)
    assert input_image("still", before, now, 1.0) is now
    assert np.array_equal(input_image("motion", before, now, 4.0), motion_image(before, now, 4.0))
    assert np.array_equal(input_image("flow", before, now, 25.0), flow_image(before, now, 25.0))
    flow = input_image("flow", before, now, 25.0)
    assert flow.shape == now.shape and flow.dtype == np.uint8 and (flow[..., 0] == flow[..., 2]).all()
    with pytest.raises(ValueError, match="depth"):
        input_image("depth", before, now, 1.0)
