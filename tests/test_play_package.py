"""The packaged model played for real: play.py from a copy of models/package/, on held-out clips,
with its key presses received by an X client under Xvfb."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kombat.playtest import STRIKES, match_events, play_events, render_heldout

from .conftest import ROOT, project_env, vfr_times, write_clip

pytestmark = pytest.mark.slow  # end to end: a pipeline in a fresh copy (make test-all, CI)

# Event-level targets on held-out clips of the small easy data set (measured: precision 0.50,
# recall 0.67 over 18 strikes with smoothing 3; 0.57 / 0.67 without): an action counts when it
# names the strike and lands within 0.3 s of it.
MIN_PRECISION, MIN_RECALL, SLACK = 0.4, 0.5, 0.3
RECORDER = ROOT / "tests/tools/x_key_recorder.py"


def run_play(package: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "play.py", *args], cwd=package, env=env or project_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def heldout(built_project, tmp_path_factory):
    folder = tmp_path_factory.mktemp("heldout")
    return [render_heldout(folder, i, 12.0, built_project.path / "params.yaml") for i in range(3)]


STANDALONE = """
import runpy, sys
sys.argv = ["play.py", "--source", sys.argv[1], "--json"]
try:
    runpy.run_path("play.py", run_name="__main__")
except SystemExit as exit:
    assert exit.code == 0, exit.code
assert not [m for m in sys.modules if m.split(".")[0] == "kombat"], "play.py imported kombat"
print("standalone", sorted(m for m in ("frames", "lite", "video") if m in sys.modules))
"""


def test_the_package_folder_stands_alone(built_project, heldout):
    package = built_project.package
    out = subprocess.run([sys.executable, "-c", STANDALONE, str(heldout[0][0])], cwd=package, env=project_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "standalone ['frames', 'lite', 'video']"  # the package's own copies
    labels = json.loads((package / "labels.json").read_text())
    assert labels["frame_size"] == [100, 56] and labels["registered_model"] == "kombat@champion"
    assert {"inputs", "window", "motion_gap", "gains"} <= labels.keys()


def test_play_fires_punches_and_kicks_at_the_annotated_times(built_project, heldout):
    total = None
    found = set()
    for video, segments in heldout:
        events = play_events(built_project.package, video)
        score = match_events(events, segments, SLACK)
        total = score if total is None else total + score
        for label in STRIKES:
            if match_events([e for e in events if e.action == label], segments, SLACK).true_positives:
                found.add(label)
    assert total.precision >= MIN_PRECISION and total.recall >= MIN_RECALL, total
    assert found == set(STRIKES)


def test_json_lines_and_summary(built_project, heldout):
    video, _ = heldout[0]
    out = run_play(built_project.package, "--source", str(video), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    decisions = [json.loads(line) for line in out.stdout.splitlines()]
    # 12 s at 15 fps, a decision every 100 ms tick on the frame shown then, stamped with that frame's time
    expected = [round(math.floor(k * 0.1 * 15 + 1e-6) / 15, 3) for k in range(120)]
    assert [d["t"] for d in decisions] == expected
    assert all(set(d["probabilities"]) == {"punch", "kick", "other"} for d in decisions)
    assert all(abs(sum(d["probabilities"].values()) - 1) < 1e-3 for d in decisions)
    summary = out.stderr.strip().splitlines()[-1]
    assert summary.startswith("play: 180 frames, 120 decisions") and "p50" in summary and "p95" in summary
    every = run_play(built_project.package, "--source", str(video), "--json", "--every-frame")
    assert every.returncode == 0 and len(every.stdout.splitlines()) == 180, every.stderr[-2000:]
    keras = run_play(built_project.package, "--source", str(video), "--json", "--backend", "keras")
    assert keras.returncode == 0, keras.stderr[-2000:]
    for a, b in zip(decisions, map(json.loads, keras.stdout.splitlines()), strict=True):  # same frames, same model
        assert a["t"] == b["t"] and a["action"] == b["action"]
        assert np.allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-3)


def test_decisions_on_a_variable_frame_rate_file_carry_the_frames_timestamps(built_project, tmp_path):
    # 1 s at 30 fps then 1 s at 10 fps (OpenCV says ~22 fps): a decision at every 100 ms tick, on the
    # frame shown then, stamped with its timestamp, as extract stamps training frames.
    video = tmp_path / "vfr.mp4"
    write_clip(video, "libx264", vfr_times())
    out = run_play(built_project.package, "--source", str(video), "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert [json.loads(line)["t"] for line in out.stdout.splitlines()] == [round(k / 10, 3) for k in range(20)]
    every = run_play(built_project.package, "--source", str(video), "--json", "--every-frame")
    assert [json.loads(line)["t"] for line in every.stdout.splitlines()] == [round(t, 3) for t in vfr_times()]


def test_json_lines_read_in_part_end_quietly(built_project, heldout):
    """`play.py --json | head -2`: the reader closes the pipe, play.py stops without a traceback."""
    video, _ = heldout[0]
    proc = subprocess.Popen([sys.executable, "play.py", "--source", str(video), "--json", "--every-frame"],  # > a pipe's 64 KB
                            cwd=built_project.package,
                            env=project_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err, err[-2000:]
    assert all(json.loads(line)["t"] >= 0 for line in first)


@pytest.mark.parametrize("args, message", [
    (["--source", "missing.mp4"], "missing.mp4: no such video file"),
    (["--source", "labels.json"], "labels.json: cannot be opened as a video"),
    (["--source", "7"], "camera 7: cannot be opened"),
    (["--package", "nowhere"], "nowhere/play.json: not found"),
])
def test_bad_sources_and_folders_are_one_line_errors(built_project, args, message):
    out = run_play(built_project.package, *args)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and lines[-1].startswith("play: error: ") and message in lines[-1], out.stderr


def test_a_missing_model_is_a_one_line_error(built_project, tmp_path):
    package = shutil.copytree(built_project.package, tmp_path / "package")
    (package / "embedder.tflite").unlink()
    video = next(iter(sorted((built_project.path / "data/synthetic/videos").glob("*.mp4"))))
    out = run_play(package, "--source", str(video))
    assert out.returncode == 2 and "embedder.tflite: model not found" in out.stderr.strip().splitlines()[-1]


def test_an_embedder_that_fails_its_check_is_a_one_line_error(built_project, tmp_path):
    """The package's check embeddings nudged by 1% of their largest value: as if this runtime computed other
    numbers than the embed stage's. play.py refuses before the first decision."""
    package = shutil.copytree(built_project.package, tmp_path / "package")
    with np.load(package / "embedder_check.npz") as check:
        images, embeddings = check["images"], check["embeddings"].copy()
    embeddings.flat[embeddings.argmin()] += embeddings.max() * 0.01  # the largest value stays the same
    np.savez(package / "embedder_check.npz", images=images, embeddings=embeddings)
    video = next(iter(sorted((built_project.path / "data/synthetic/videos").glob("*.mp4"))))
    out = run_play(package, "--source", str(video), "--json")
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 2 and out.stdout == "" and last.startswith("play: error: "), out.stderr[-2000:]
    assert "embedder_check.npz: here the embedder gives the check images' embeddings 1.0e-02 " in last


def test_actions_arrive_as_key_presses_in_an_x_client(built_project, heldout, x_display):
    env = {**project_env(), "DISPLAY": x_display}
    recorder = subprocess.Popen([sys.executable, str(RECORDER)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert recorder.stdout.readline().strip() == "ready"
        video, _ = next((v, s) for v, s in heldout)
        out = run_play(built_project.package, "--source", str(video), "--json", "--keys", "on", env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        actions = [d["action"] for d in map(json.loads, out.stdout.splitlines()) if d["action"]]
        assert actions, "the model fired no action on this clip"
        time.sleep(0.5)
    finally:
        recorder.terminate()
    received = recorder.stdout.read().split()
    assert received == [{"punch": "a", "kick": "d"}[a] for a in actions]


def test_show_opens_a_window_and_ends_with_the_video(built_project, heldout, x_display):
    video, _ = heldout[1]
    out = run_play(built_project.package, "--source", str(video), "--show", env={**project_env(), "DISPLAY": x_display})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("play: 180 frames, 120 decisions")


def test_the_registered_champion_loads_as_a_pyfunc_and_plays_a_clip_as_play_py_does(built_project):
    # `mlflow.pyfunc.load_model("models:/kombat@champion")`, as the README says, on the built project's store.
    import mlflow

    from kombat.play import load_model
    from kombat.storage import read_dataset

    frames_ds = read_dataset(built_project.path / "data/frames")
    clip = frames_ds.manifest.index[frames_ds.manifest["source"] == frames_ds.manifest["source"].iloc[0]][:12]
    frames = np.asarray(frames_ds.images[clip.to_numpy()])
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{built_project.path / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model("models:/kombat@champion")
        probabilities = model.predict(frames)
    finally:
        mlflow.set_tracking_uri(before)
    package = built_project.path / "models/package"  # the alias's model: other tests may have packaged anew
    labels = json.loads((package / "labels.json").read_text())
    tick_model = load_model(package, "tflite", labels)
    assert probabilities.shape == (12, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert np.allclose(probabilities, np.stack([tick_model(frame) for frame in frames]), atol=1e-6)
