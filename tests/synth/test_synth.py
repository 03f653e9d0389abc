"""Synthetic fighters: poses, labels, determinism across processes, real video files."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from kombat.recordings import write_video
from kombat.synth.body import Limb, Pose, extension, forward_kinematics, make_actor
from kombat.synth.clips import render_clip, segments_from_labels
from kombat.synth.motions import (
    HARD_NEGATIVES,
    KICKS,
    PUNCHES,
    STRIKE_OUT,
    make_motion,
    plan_clip,
    pose_at,
)


def test_straight_limbs_are_fully_extended_and_bent_ones_are_not():
    body = make_actor("a", 1).proportions
    straight = forward_kinematics(body, Pose(lead_arm=Limb(90, 0), lead_leg=Limb(90, 0)))
    bent = forward_kinematics(body, Pose(lead_arm=Limb(35, 125), lead_leg=Limb(80, 110)))
    assert extension(body, straight, "lead_arm") == pytest.approx(1.0)
    assert extension(body, straight, "lead_leg") == pytest.approx(1.0)
    assert extension(body, bent, "lead_arm") < 0.6 and extension(body, bent, "lead_leg") < 0.8
    # 90 degrees is straight forward: the hand is level with the shoulder, in front of it.
    hand, shoulder = straight.hands["lead"], straight.shoulders["lead"]
    assert hand[0] > shoulder[0] + 0.3 and abs(hand[1] - shoulder[1]) < 1e-6


@pytest.mark.parametrize("name", PUNCHES + KICKS)
def test_strikes_are_labelled_only_while_out(name):
    actor = make_actor("a", 2)
    motion = make_motion(name, actor, np.random.default_rng(0))
    plan = [(0.0, motion)]
    times = np.arange(0, motion.seconds, 1 / 60)
    truths = [pose_at(plan, t) for t in times]
    labels = {t.label for t in truths}
    assert labels == {None, motion.label}  # wind-up/recovery unlabelled, the strike labelled
    assert all((t.label is not None) == (t.out >= STRIKE_OUT) for t in truths)
    assert truths[0].label is None and truths[-1].label is None


@pytest.mark.parametrize("name", HARD_NEGATIVES)
def test_hard_negatives_are_other(name):
    motion = make_motion(name, make_actor("a", 3), np.random.default_rng(1))
    assert {pose_at([(0.0, motion)], t).label for t in np.arange(0, motion.seconds, 0.05)} == {"other"}


def test_every_clip_plan_holds_punches_kicks_and_others():
    plan = plan_clip(make_actor("a", 4), np.random.default_rng(5), seconds=8.0, hard_negative_rate=0.5)
    assert {m.label for _, m in plan} == {"punch", "kick", "other"}
    starts = [s for s, _ in plan]
    assert starts == sorted(starts)


def test_segments_from_labels_skips_unlabelled_frames():
    labels = ["other", "other", None, "punch", "punch", None, None, "other"]
    segments = segments_from_labels(labels, fps=10)
    assert [(s.start, s.end, s.label) for s in segments] == [(0.0, 0.2, "other"), (0.3, 0.5, "punch"), (0.7, 0.8, "other")]


RENDER = """
import hashlib, sys
from pathlib import Path
from kombat.synth.body import make_actor
from kombat.recordings import write_video
from kombat.synth.clips import render_clip
clip = render_clip(make_actor("actor01", 11), seed=12, seconds=1.0, fps=15, size=(96, 54),
                   hard_negative_rate=0.5, occlusion_rate=1.0, noise=1.0)
write_video(Path(sys.argv[1]), clip.frames, 15)
print(hashlib.sha256(Path(sys.argv[1]).read_bytes()).hexdigest(), clip.labels)
"""


def test_same_seed_gives_identical_video_bytes_in_separate_processes(tmp_path):
    outputs = [subprocess.run([sys.executable, "-c", RENDER, str(tmp_path / f"{i}.mp4")], capture_output=True,
                              text=True, check=True, env={"PYTHONHASHSEED": str(i), "PATH": ""}).stdout
               for i in range(2)]
    assert outputs[0] == outputs[1]
    assert (tmp_path / "0.mp4").read_bytes() == (tmp_path / "1.mp4").read_bytes()


def test_videos_are_real_files_opencv_and_ffprobe_read(tmp_path):
    clip = render_clip(make_actor("b", 21), seed=22, seconds=1.0, fps=15, size=(128, 72), hard_negative_rate=0.5,
                       occlusion_rate=0.0, noise=1.0)
    path = tmp_path / "clip.mp4"
    write_video(path, clip.frames, 15)
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 15
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(15)
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (72, 128, 3)
    # Lossy coding keeps the picture: the decoded frame is close to what was rendered.
    assert np.abs(first.astype(int) - cv2.cvtColor(clip.frames[0], cv2.COLOR_RGB2BGR).astype(int)).mean() < 12
    if shutil.which("ffprobe"):
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
        assert probe.returncode == 0 and probe.stdout.strip() == "15"


def test_actors_differ_and_frames_are_not_blank():
    a, b = make_actor("a", 1), make_actor("b", 2)
    assert a.looks != b.looks or a.proportions != b.proportions
    clip = render_clip(a, seed=3, seconds=0.5, fps=10, size=(96, 54), hard_negative_rate=0.5, occlusion_rate=0.0,
                       noise=0.0)
    frames = np.stack(clip.frames)
    assert frames.std() > 10  # a scene, not a flat colour
    assert hashlib.sha256(frames[0].tobytes()).digest() != hashlib.sha256(frames[-1].tobytes()).digest()
