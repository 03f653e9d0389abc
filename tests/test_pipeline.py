"""End to end: `dvc repro` on small synthetic data in a fresh copy, then the MLflow run read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from kombat.pose_models import missing_models

from .conftest import (ROOT, HEIGHT, WIDTH, copy_project, drawn_frame, needs_weights, overstate_frame_count, project_env, repro,
                       write_clip, write_video)

pytestmark = pytest.mark.slow  # end to end: a pipeline in a fresh copy (make test-all, CI)


def set_param(project: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section][key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@needs_weights
def test_dvc_repro_tracks_and_reruns_only_what_changed(built_project):
    import mlflow

    project = built_project.path
    assert built_project.stages_ran == ["synth", "extract", "balance", "augment", "embed", "train", "evaluate",
                                        "package"]
    report = json.loads((project / "metrics/evaluate.json").read_text())
    assert 0 <= report["macro_f1"] <= 1 and report["test_frames"] > 0
    assert {"accuracy", "balanced_accuracy", "val_macro_f1", "f1_punch", "recall_kick"} <= report.keys()
    assert (project / "plots/confusion_matrix.png").stat().st_size > 1000
    assert (project / "plots/augment_preview.png").stat().st_size > 1000

    # The MLflow run, read back from the project's SQLite store.
    run_id = json.loads((project / "models/run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["layer"] == "conv_pw_13_relu"
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert run.data.params["head"] == params["head"]["name"] and run.data.params["input"] == params["embed"]["input"]
    assert run.data.params["units"] == str(params["head"]["units"]) and run.data.params["window"] == str(params["head"]["window"])
    assert float(run.data.params["lr"]) == params["train"]["lr"]
    assert run.data.params["augment_copies"] == "1" and run.data.params["task"] == "three_class"
    assert len(run.data.params["data_fingerprint"]) == 16
    assert run.data.tags["mlflow.source.git.commit"] != "unknown"
    assert run.data.metrics["accuracy"] == pytest.approx(report["accuracy"])
    assert len(client.get_metric_history(run_id, "epoch_val_loss")) >= 1  # per-epoch curves
    # What data made this model: one MLflow dataset per split, the data fingerprint as its digest.
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["testing", "training", "validation"]
    assert {d.digest for d in inputs.values()} == {run.data.params["data_fingerprint"]}
    assert inputs["training"].name == "synthetic-train" and str(project / "data/synthetic") in inputs["training"].source
    train_clips = json.loads(inputs["training"].profile)["num_rows"]
    assert train_clips == len(json.loads((project / "data/frames/counts.json").read_text())["actors"]["train"]) * 1

    # The package: the only candidate so far is this run; the registry's alias points at it.
    version = client.get_model_version_by_alias("kombat", "champion")
    assert version.run_id == run_id
    labels = json.loads((project / "models/package/labels.json").read_text())
    assert labels["run_id"] == run_id and labels["classes"] == ["punch", "kick", "other"]
    card = (project / "models/package/README.md").read_text()
    assert run_id in card and f"macro-F1 {report['macro_f1']:.3f}" in card
    assert {p.name for p in (project / "models/package").iterdir()} >= {
        "embedder.keras", "embedder.tflite", "embedder_check.npz", "head.keras", "head.tflite", "labels.json",
        "play.json", "play.py", "frames.py", "lite.py", "README.md"}
    # play.py checks its runtime on the embed stage's check images and embeddings, which the package carries.
    embeddings = project / "data/embeddings"
    meta, layer = json.loads((embeddings / "meta.json").read_text()), params["embed"]["layer"]
    stored = np.concatenate([np.load(embeddings / kind / f"{layer}.npy")[meta["check"]["rows"]]
                             for kind in meta["check"]["inputs"]])
    with np.load(project / "models/package/embedder_check.npz") as check:
        assert np.array_equal(check["images"], np.load(embeddings / "check_images.npy"))
        assert np.array_equal(check["embeddings"], stored)
    assert labels["embedder_tolerance"] == params["embed"]["tolerance"]
    # The play rule: fitted on the validation clips (or the fixed one, saying why), scored on validation and test.
    events = json.loads((project / "metrics/play_events.json").read_text())
    settings = json.loads((project / "models/package/play.json").read_text())
    assert {k: settings[k] for k in events["chosen"]} == events["chosen"]
    assert {"precision_punch", "recall_kick", "false_actions_per_quiet_minute"} <= events["test"]["chosen"].keys()
    assert events["val"]["chosen"]["f1"] >= events["val"]["fixed"]["f1"]  # the fixed rule is among the candidates
    assert "## Play rule (`play.json`)" in card and "| fixed | test (" in card

    assert repro(project) == []  # nothing changed: nothing runs
    set_param(project, "head", "units", 32)  # the temporal head has 64
    assert repro(project) == ["train", "evaluate", "package"]
    set_param(project, "play", "cooldown_s", 0.4)
    assert repro(project) == ["package"]
    set_param(project, "augment", "copies", 2)
    assert repro(project) == ["augment", "embed", "train", "evaluate", "package"]


def test_bad_params_stop_the_first_stage_with_one_line(tmp_path):
    project = copy_project(tmp_path)
    set_param(project, "train", "lr", "fast")
    out = subprocess.run(["python", "-m", "kombat.stages.train", "--embeddings-dir", "x", "--model-dir", "m",
                          "--metrics-dir", "n"], cwd=project, env=project_env(), capture_output=True, text=True)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("kombat train: error: params.yaml: key train.lr")


# A user's own data, small: 3 actors (one per split), each class in each actor's clips.
MOVES = ["other", "punch", "kick", "other", "kick", "punch"]


def write_user_videos(raw: Path) -> None:
    """OpenCV-written clips in two containers (AVI/MJPG and MP4/mp4v), one AVI whose header promises
    2 frames more than it holds and whose last segment is annotated to that promised end."""
    (raw / "videos").mkdir(parents=True)
    rows = ["video,start,end,label,actor"]
    for actor, suffix in (("ann", ".avi"), ("bob", ".mp4"), ("cy", ".avi")):
        video = f"videos/{actor}_take1{suffix}"
        write_video(raw / video, MOVES, fps=20)
        rows += [f"{video},{i}.0,{i}.9,{label},{actor}" for i, label in enumerate(MOVES)]
    overstate_frame_count(raw / "videos/cy_take1.avi", 2)
    rows[-1] = "videos/cy_take1.avi,5.0,6.1,punch,cy"  # past the stream's last frame (6.0 s), within the promised 6.1 s
    (raw / "annotations.csv").write_text("\n".join(rows) + "\n")


SOLO_TAKES = (("take1.mp4", "libx264"), ("take2.webm", "libvpx-vp9"), ("take3.mkv", "ffv1"), ("take4.avi", "rawvideo"))


def write_solo_takes(raw: Path) -> None:
    """One person, four takes written by PyAV in four codecs and containers (H.264 MP4 at a variable
    frame rate, VP9 WebM as a browser records, FFV1 MKV, uncompressed AVI)."""
    (raw / "videos").mkdir(parents=True)
    rows = ["video,start,end,label,actor"]
    for k, (name, codec) in enumerate(SOLO_TAKES):
        moves = MOVES[k % 2:] + MOVES[:k % 2]
        times = [i / 20 for i in range(20 * len(moves))]
        if codec == "libx264":  # the second half at 10 fps
            times = [t for t in times if t < 3 or round(t * 20) % 2 == 0]
        frames = [cv2.cvtColor(drawn_frame(moves[int(t)], seed=k * 1000 + i, size=(WIDTH, HEIGHT)), cv2.COLOR_BGR2RGB)
                  for i, t in enumerate(times)]
        write_clip(raw / "videos" / f"alice_{name}", codec, times, pix_fmt="bgr24" if codec == "rawvideo" else "yuv420p",
                   frames=frames)
        rows += [f"videos/alice_{name},{i}.0,{i}.9,{label},alice" for i, label in enumerate(moves)]
    (raw / "annotations.csv").write_text("\n".join(rows) + "\n")


def write_user_images(raw: Path) -> None:
    for label in ("punch", "kick", "other"):
        (raw / label).mkdir(parents=True)
        for actor in ("ann", "bob", "cy"):
            for i in range(6):
                cv2.imwrite(str(raw / label / f"{actor}_{i:03d}.png"), drawn_frame(label, seed=hash((actor, i)) % 1000))


@needs_weights
@pytest.mark.parametrize("preset", ["videos", "folders", "solo"])
def test_your_own_recordings_run_through_package_from_a_fresh_copy(tmp_path, preset):
    # The README's path: put recordings under data/raw, compose the preset, dvc repro.
    project = copy_project(tmp_path / "kombat")
    if preset == "videos":
        write_user_videos(project / "data/raw")
    elif preset == "solo":
        write_solo_takes(project / "data/raw")
    else:
        write_user_images(project / "data/raw/images")
    # data=videos joins BlazePose's landmarks to the flow, with the models setup fetched; where it could not
    # (offline, no ../shared/pose), the preset's flow alone (tests/stages/test_pose_input.py covers pose itself).
    models = ROOT / ".cache" / "pose"
    pose = [] if preset == "folders" else ["embed.input=flow"] if missing_models(models) else [f"pose.models_dir={models}"]
    subprocess.run(["python", "-m", "kombat.compose", f"data={'videos' if preset == 'solo' else preset}",
                    "augment.copies=1", "train.epochs=3", *pose], cwd=project, env=project_env(), check=True,
                   capture_output=True)
    assert repro(project) == ["synth", "extract", "balance", "augment", "embed", "train", "evaluate", "package"]
    counts = json.loads((project / "data/frames/counts.json").read_text())
    assert counts["skipped"] == {}  # no good clip is called damaged
    if preset == "solo":
        check_solo_validation_is_said(project, counts)
        return
    assert sorted(a for actors in counts["actors"].values() for a in actors) == ["ann", "bob", "cy"]
    if preset == "videos":
        # 20 fps videos: two tick streams each (extract.every_frame), so one late tick in each
        assert counts["clipped"] == {"videos/cy_take1.avi": 2}
        assert counts["counts"][next(s for s, a in counts["actors"].items() if a == ["cy"])]["punch"] == 2 * 19
    package = project / "models/package"
    assert {"play.py", "embedder.tflite", "head.tflite", "labels.json"} <= {p.name for p in package.iterdir()}
    labels = json.loads((package / "labels.json").read_text())
    assert labels["classes"] == ["punch", "kick", "other"]
    assert (project / "data/synthetic/NOT_USED.txt").is_file()


def check_solo_validation_is_said(project: Path, counts: dict) -> None:
    """One person alone trained, validated and tested on different takes, and every report says so."""
    import mlflow

    assert counts["split_by"] == "take" and counts["actors"] == {"train": ["alice"], "val": ["alice"], "test": ["alice"]}
    said = "validation and test are other takes of the same person(s) (split by take)"
    card = (project / "models/package/README.md").read_text()
    assert f"**How it was validated**: split by take: {said}" in card and "held-out takes" in card
    run_id = json.loads((project / "models/package/labels.json").read_text())["run_id"]
    run = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}").get_run(run_id)
    assert run.data.params["split_by"] == "take" and run.data.tags["kombat.validation"].startswith(said[:40])
    summary = subprocess.run(["python", "-m", "kombat.summary"], cwd=project, env=project_env(), capture_output=True,
                             text=True, check=True).stdout
    assert f"split by take: {said}" in summary


@needs_weights
def test_the_pose_input_runs_through_package_and_plays(tmp_path):
    """embed.input=motion+pose on small, easy 320x180 fighters: landmarks found at extract, the package carries
    BlazePose's models, and play.py finds the pose on the video's full frames (skipped without the models)."""
    from kombat import pose_models

    from .conftest import ROOT

    models = ROOT / ".cache" / "pose"
    if pose_models.missing_models(models):
        pytest.skip("BlazePose models not fetched (make setup)")
    project = copy_project(tmp_path / "kombat")
    subprocess.run(["python", "-m", "kombat.compose", "data=tiny", "data.synth.actors=6", "data.synth.clip_seconds=12",
                    "data.synth.width=320", "data.synth.height=180", "data.synth.noise=0", "data.synth.occlusion_rate=0",
                    "data.synth.hard_negative_rate=0", "augment.copies=1", "train.epochs=5", "embed.input=motion+pose",
                    f"pose.models_dir={models}"], cwd=project, env=project_env(), check=True, capture_output=True)
    assert repro(project) == ["synth", "extract", "balance", "augment", "embed", "train", "evaluate", "package"]
    counts = json.loads((project / "data/frames/counts.json").read_text())["pose"]
    assert counts["found"] >= 0.9 * counts["frames"]  # measured: 1409 of 1438 on these fighters
    package = project / "models/package"
    assert {p.name for p in (package / "pose").iterdir()} == {"pose_detection.tflite", "pose_landmark_full.tflite"}
    labels = json.loads((package / "labels.json").read_text())
    assert labels["inputs"] == ["motion", "pose"] and labels["pose_people"] == 1
    video = sorted((project / "data/synthetic/videos").glob("*.mp4"))[0]
    played = subprocess.run(["python", "play.py", "--source", str(video), "--keys", "off", "--json"], cwd=package,
                            env=project_env(), capture_output=True, text=True, timeout=300)
    assert played.returncode == 0, played.stderr[-2000:]
    assert len([line for line in played.stdout.splitlines() if line.startswith("{")]) >= 100
