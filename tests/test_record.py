"""The recorder: its plan and proposed segments (pure), and the real thing under Xvfb with a video
file standing in for the camera, checked by the files it writes and a screenshot of its window."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from kombat.compose import default_config
from kombat.record import free_video_name, plan_take, prompt_at, segments_of
from kombat.recordings import parse_annotations, read_annotations

from .conftest import focus_window, project_env, screenshot, write_video, xdotool

SHORT_PLAN = """record:
  takes: 2
  punches: 1
  kicks: 1
  free_moves: 1
  countdown_s: 1.0
  strike_s: 1.0
  guard_s: 0.5
  free_s: 1.5
  margin_s: 0.2
"""  # a take lasts 1 + 2 x 1.5 + 1.5 = 5.5 s


def test_a_take_prompts_every_move_once_after_a_countdown_in_a_seeded_order():
    plan = dataclasses.replace(default_config().record, punches=3, kicks=2, free_moves=2)
    prompts = plan_take(plan, 0)
    assert prompts[0].text == "get ready" and prompts[0].label is None and prompts[0].end == plan.countdown_s
    texts = [p.text for p in prompts]
    assert texts.count("PUNCH!") == 3 and texts.count("KICK!") == 2 and texts.count("guard") == 5
    assert sum(t.startswith("move freely") for t in texts) == 2
    assert all(a.end == b.start for a, b in zip(prompts, prompts[1:]))  # back to back
    assert plan_take(plan, 0) == prompts and plan_take(plan, 1) != prompts  # a seed per take
    assert prompt_at(prompts, prompts[3].start + 0.01) == prompts[3]


def test_proposed_segments_leave_a_margin_unlabelled_and_parse():
    plan = dataclasses.replace(default_config().record, margin_s=0.25)
    prompts = plan_take(plan, 2)
    segments = segments_of(prompts, plan.margin_s)
    labelled = [p for p in prompts if p.label]
    assert len(segments) == len(labelled)
    for prompt, segment in zip(labelled, segments):
        assert segment.label == prompt.label
        assert segment.start == pytest.approx(prompt.start + 0.25) and segment.end == pytest.approx(prompt.end - 0.25)
    import pandas as pd
    table = pd.DataFrame([{"video": "videos/a.mp4", "start": s.start, "end": s.end, "label": s.label, "actor": "a"}
                          for s in segments])
    parse_annotations(table, "proposed")  # no overlaps, known labels


def test_a_new_take_never_overwrites_a_recording(tmp_path):
    first = free_video_name(tmp_path, "ann", 0)
    first.write_bytes(b"x")
    second = free_video_name(tmp_path, "ann", 0)
    assert second != first and second.name.startswith(first.stem) and first.read_bytes() == b"x"


@pytest.fixture
def camera_clip(tmp_path) -> Path:
    """A 20 fps video that stands in for the camera: 18 s of alternating moves."""
    path = tmp_path / "camera.mp4"
    write_video(path, ["punch", "kick", "other"] * 6, fps=20)
    return path


def record(args: list[str], cwd: Path, display: str | None = None, env: dict | None = None, **popen) -> subprocess.Popen:
    env = {**(env or project_env()), **({"DISPLAY": display} if display else {})}
    return subprocess.Popen([sys.executable, "-m", "kombat.record", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def test_the_recorder_writes_whole_takes_and_their_segments(tmp_path, camera_clip, x_display):
    (tmp_path / "plan.yaml").write_text(SHORT_PLAN)
    proc = record(["--actor", "zoe", "--source", str(camera_clip), "--raw-dir", "raw", "--params", "plan.yaml"],
                  tmp_path, x_display)
    focus_window(x_display, "kombat record")
    time.sleep(2.0)  # in the first take's prompts
    shot = screenshot(x_display)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert shot.std() > 20 and (shot.reshape(-1, 3).max(axis=1) > 0).mean() > 0.3  # the window, not a black screen
    cv2.imwrite(str(tmp_path / "record.png"), shot)
    videos = sorted((tmp_path / "raw/videos").iterdir())
    assert [v.suffix for v in videos] == [".mp4", ".mp4"] and all(v.name.startswith("zoe_") for v in videos)
    for video in videos:  # readable, 5.5 s at the camera's 20 fps
        capture = cv2.VideoCapture(str(video))
        frames = 0
        while capture.grab():
            frames += 1
        assert capture.get(cv2.CAP_PROP_FPS) == 20 and frames == 110
    table = read_annotations(tmp_path / "raw/annotations.csv")  # the parser extract uses accepts them
    assert sorted(table.video.unique()) == [f"videos/{v.name}" for v in videos]
    assert (table.actor == "zoe").all()
    per_take = table[table.video == f"videos/{videos[0].name}"]
    assert sorted(per_take.label) == ["kick", "other", "other", "other", "punch"]
    assert per_take.start.min() == pytest.approx(1.2) and per_take.end.max() <= 5.5
    assert "recorded 2 take(s) of zoe" in out and "python -m kombat.label" in out


def test_ending_mid_take_keeps_the_finished_takes_whole_and_nothing_else(tmp_path, camera_clip, x_display):
    (tmp_path / "plan.yaml").write_text(SHORT_PLAN.replace("takes: 2", "takes: 3"))
    proc = record(["--actor", "ann", "--source", str(camera_clip), "--raw-dir", "raw", "--params", "plan.yaml"],
                  tmp_path, x_display)
    focus_window(x_display, "kombat record")
    videos = tmp_path / "raw/videos"
    deadline = time.monotonic() + 60
    while not any(p.suffix == ".mp4" and not p.name.startswith(".") for p in videos.iterdir()):
        assert time.monotonic() < deadline, "the first take never finished"
        time.sleep(0.1)
    time.sleep(1.5)  # inside the second take
    xdotool(x_display, "key", "Escape")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "take 2 was not finished (ended by the user) and was discarded" in out
    kept = sorted(videos.iterdir())
    assert len(kept) == 1 and not kept[0].name.startswith(".")  # no half video, no temporary file
    table = read_annotations(tmp_path / "raw/annotations.csv")
    assert set(table.video) == {f"videos/{kept[0].name}"}  # no orphan row


def test_pause_stops_the_take_clock(tmp_path, camera_clip, x_display):
    (tmp_path / "plan.yaml").write_text(SHORT_PLAN.replace("takes: 2", "takes: 1"))
    proc = record(["--actor", "cy", "--source", str(camera_clip), "--raw-dir", "raw", "--params", "plan.yaml"],
                  tmp_path, x_display)
    focus_window(x_display, "kombat record")
    time.sleep(1.0)
    xdotool(x_display, "key", "space")
    time.sleep(2.0)  # 40 camera frames pass while paused: none is recorded
    xdotool(x_display, "key", "space")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    (video,) = (tmp_path / "raw/videos").iterdir()
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 110  # the take's 5.5 s, pause excluded


@pytest.mark.parametrize("case, message", [
    ("camera", "camera 7: cannot be opened (no camera, or it is busy)"),
    ("not a video", "camera.txt: cannot be opened as a video"),
    ("unwritable", "raw/videos: cannot write recordings there"),
    ("bad csv", "annotations.csv: row 3: unknown label 'jump'"),
    ("actor", "--actor 'a b': use letters, digits"),
    ("no display", "no display to open the recorder's window on (DISPLAY is not set): run it in a desktop session, "
                   "or pass --no-show"),
])
def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, camera_clip, case, message):
    args = ["--actor", "ann", "--source", str(camera_clip), "--raw-dir", "raw", "--no-show"]
    if case == "camera":
        args[3] = "7"
    elif case == "not a video":
        (tmp_path / "camera.txt").write_text("not a video")
        args[3] = str(tmp_path / "camera.txt")
    elif case == "unwritable":
        (tmp_path / "raw").mkdir()
        (tmp_path / "raw/videos").write_text("a file where the folder should be")
    elif case == "bad csv":
        (tmp_path / "raw").mkdir()
        (tmp_path / "raw/annotations.csv").write_text("video,start,end,label\nvideos/x.mp4,0,1,punch\n"
                                                      "videos/x.mp4,1,2,jump\n")
    elif case == "actor":
        args[1] = "a b"
    elif case == "no display":
        args.remove("--no-show")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = record(args, tmp_path, env={name: value for name, value in project_env().items()
                                       if name not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert not [p for p in after if p not in before]
