"""The pose input through the stages that carry it: extract finds landmarks on the full-size frames (only when
the config embeds pose), balance and augment carry them (augment moves them with the frame), embed turns them
into the pose features. On rendered fighters at 320x180; skipped where the BlazePose models are not fetched."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from kombat import pose, pose_models
from kombat.recordings import write_video
from kombat.stages import augment, balance, embed, extract
from kombat.storage import LANDMARKS_FILE, read_dataset
from kombat.synth.body import make_actor
from kombat.synth.clips import render_clip

from ..conftest import ROOT

MODELS_DIR = ROOT / ".cache" / "pose"
needs_models = pytest.mark.skipif(bool(pose_models.missing_models(MODELS_DIR)),
                                  reason="BlazePose models not fetched (make setup)")


def with_inputs(cfg, input_: str, **extract_changes):
    return dataclasses.replace(
        cfg, embed=dataclasses.replace(cfg.embed, input=input_, candidate_inputs=[]),
        pose=dataclasses.replace(cfg.pose, models_dir=str(MODELS_DIR)),
        extract=dataclasses.replace(cfg.extract, every_frame=False, **extract_changes),
        augment=dataclasses.replace(cfg.augment, copies=2, splits=["train", "val", "test"]))


@pytest.fixture(scope="module")
def fighters_raw_dir(tmp_path_factory) -> Path:
    """Three rendered fighters, a 3-second 320x180 video each at 10 fps, its seconds labelled punch, kick, other
    (labels the stages need to run; what the fighter does in them does not matter here)."""
    raw = tmp_path_factory.mktemp("fighters")
    (raw / "videos").mkdir()
    rows = ["video,start,end,label,actor"]
    for i, actor in enumerate(("ann", "bob", "cy")):
        clip = render_clip(make_actor(actor, seed=7003 + i), seed=100 + i, seconds=3.0, fps=10, size=(320, 180),
                           hard_negative_rate=0.5, occlusion_rate=0.0, noise=1.0)
        write_video(raw / "videos" / f"{actor}.mp4", clip.frames, 10)
        rows += [f"videos/{actor}.mp4,0.0,1.0,punch,{actor}", f"videos/{actor}.mp4,1.0,2.0,kick,{actor}",
                 f"videos/{actor}.mp4,2.0,2.95,other,{actor}"]
    (raw / "annotations.csv").write_text("\n".join(rows) + "\n")
    return raw


def test_without_pose_in_the_inputs_no_landmarks_are_found(cfg, fighters_raw_dir, tmp_path):
    extract.run(with_inputs(cfg, "motion"), fighters_raw_dir, tmp_path / "frames")
    assert not (tmp_path / "frames" / LANDMARKS_FILE).exists()
    assert "pose" not in json.loads((tmp_path / "frames" / "counts.json").read_text())


def test_missing_models_stop_extract_with_one_line(cfg, fighters_raw_dir, tmp_path):
    missing = dataclasses.replace(with_inputs(cfg, "motion+pose"), pose=dataclasses.replace(cfg.pose, models_dir=str(tmp_path)))
    with pytest.raises(extract.DataError, match=r"pose_detection.tflite: BlazePose detector model not found.*pose.models_dir"):
        extract.run(missing, fighters_raw_dir, tmp_path / "frames")


@needs_models
def test_landmarks_go_from_extract_through_augment_to_the_pose_features(cfg, fighters_raw_dir, tmp_path):
    run_cfg = with_inputs(cfg, "pose")
    summary = extract.run(run_cfg, fighters_raw_dir, tmp_path / "frames")
    frames = read_dataset(tmp_path / "frames")
    landmarks = frames.landmarks
    assert landmarks.shape == (len(frames.images), 1, 33, 5) and landmarks.dtype == np.float32
    found = landmarks[:, 0, :, 4].any(axis=1)
    counts = json.loads((tmp_path / "frames" / "counts.json").read_text())["pose"]
    assert counts == {"frames": len(landmarks), "found": int(found.sum())}
    assert f"nobody found in {len(landmarks) - found.sum()} of {len(landmarks)} frames" in summary
    assert found.mean() >= 0.5, found.mean()
    hips = landmarks[found][:, 0, [pose.LEFT_HIP, pose.RIGHT_HIP], :2].mean(axis=1)  # in the 100x56 model frame
    assert (hips[:, 0] > 10).all() and (hips[:, 0] < 90).all() and (hips[:, 1] > 10).all() and (hips[:, 1] < 56).all()
    assert not landmarks[~found].any()  # nobody: zeros

    balance.run(run_cfg, tmp_path / "frames", tmp_path / "balanced")
    assert np.array_equal(read_dataset(tmp_path / "balanced").landmarks, landmarks)
    augment.run(run_cfg, tmp_path / "balanced", tmp_path / "augmented", tmp_path / "preview.png")
    augmented = read_dataset(tmp_path / "augmented")
    assert len(augmented.landmarks) == 3 * len(landmarks)
    m = augmented.manifest
    originals = m["copy"].to_numpy() == 0
    assert np.array_equal(augmented.landmarks[originals], landmarks)
    row_of = {key: i for i, key in enumerate(zip(m.source[originals], m.phase[originals], m.tick[originals]))}
    source_rows = np.array([row_of[key] for key in zip(m.source[~originals], m.phase[~originals], m.tick[~originals])])
    copies, sources = augmented.landmarks[~originals], landmarks[source_rows]
    assert not np.allclose(copies[..., :2], sources[..., :2])  # moved by the draws
    # presence and visibility travel with their point (left and right swapped on a flipped copy)
    assert np.array_equal(np.sort(copies[..., 3:], axis=-2), np.sort(sources[..., 3:], axis=-2))

    embed.run(run_cfg, tmp_path / "augmented", tmp_path / "embeddings")  # pose alone: no backbone
    layer = cfg.embed.layer
    features = np.load(tmp_path / "embeddings" / "pose" / f"{layer}.npy")
    assert features.shape == (len(augmented.images), pose.FEATURES_PER_PERSON) and features.dtype == np.float32
    assert np.array_equal(features, np.stack([pose.pose_features(points) for points in augmented.landmarks]))
    assert not (tmp_path / "embeddings" / "motion").exists()


def test_embed_refuses_pose_without_landmarks(cfg, tmp_path):
    from kombat.storage import Dataset, write_dataset
    import pandas as pd

    (tmp_path / "augmented").mkdir()
    manifest = pd.DataFrame({"source": ["a"], "actor": ["a"], "time": [0.0], "tick": [0], "phase": [0], "label": ["punch"],
                             "split": ["train"], "copy": [0]})
    write_dataset(tmp_path / "augmented", Dataset(np.zeros((1, 56, 100, 3), np.uint8), manifest))
    with pytest.raises(embed.DataError, match="has no landmarks.npy, but embed.input or embed.candidate_inputs names pose"):
        embed.run(with_inputs(cfg, "pose"), tmp_path / "augmented", tmp_path / "embeddings")
