"""The balance stage on a small frames folder: training classes cut to the smallest (or every frame kept
and the classes weighed), nothing else changed, the choice seeded, and a split lacking a class stops
the stage with its earlier output untouched."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from kombat.compose import default_config
from kombat.errors import DataError
from kombat.schema import to_dict
from kombat.stages import balance
from kombat.storage import Dataset, read_dataset, write_dataset

COUNTS = {"train": {"punch": 4, "kick": 6, "other": 12, "": 3},  # "": unlabelled context frames
          "val": {"punch": 2, "kick": 1, "other": 5, "": 1},
          "test": {"punch": 1, "kick": 2, "other": 6, "": 2}}


def frames_folder(folder, counts=COUNTS):
    """A frames dataset as extract writes it: one clip per split, every image marked with its row number."""
    rows = []
    for split, per_label in counts.items():
        labels = [label for label, n in per_label.items() for _ in range(n)]
        labels = list(np.random.default_rng(len(rows)).permutation(labels))  # classes interleaved in time
        rows += [{"source": f"videos/{split}.mp4", "actor": split, "time": t / 10, "tick": t, "phase": 0,
                  "label": label, "split": split} for t, label in enumerate(labels)]
    manifest = pd.DataFrame(rows)
    images = np.zeros((len(rows), 4, 6, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(rows))
    folder.mkdir(parents=True)
    write_dataset(folder, Dataset(images, manifest))
    return folder


def with_balance(cfg, **changes):
    return dataclasses.replace(cfg, balance=dataclasses.replace(cfg.balance, **changes))


def targets_per_class(manifest: pd.DataFrame, split: str) -> dict[str, int]:
    chosen = manifest[(manifest["split"] == split) & manifest["target"].astype(bool)]
    return {label: int((chosen["label"] == label).sum()) for label in ("punch", "kick", "other")}


def test_training_classes_are_cut_to_the_smallest_and_nothing_else_changes(tmp_path):
    cfg = with_balance(default_config(), splits=["train"], method="cut", seed=3)
    frames = read_dataset(frames_folder(tmp_path / "frames"))
    summary = balance.run(cfg, tmp_path / "frames", tmp_path / "balanced")
    out = read_dataset(tmp_path / "balanced")
    assert np.array_equal(out.images, frames.images)  # every frame kept, in order: the rest are context
    pd.testing.assert_frame_equal(out.manifest.drop(columns="target"), frames.manifest)
    assert targets_per_class(out.manifest, "train") == {"punch": 4, "kick": 4, "other": 4}
    labelled = out.manifest["label"] != ""
    held_out = out.manifest["split"] != "train"
    assert out.manifest["target"][held_out & labelled].all()  # validation and test keep their natural mix
    assert not out.manifest["target"][~labelled].any()  # unlabelled frames are never targets
    counts = json.loads((tmp_path / "balanced/counts.json").read_text())
    assert counts == {"method": "cut", "before": {"train": {"punch": 4, "kick": 6, "other": 12}},
                      "after": {"train": {"punch": 4, "kick": 4, "other": 4}},
                      "weights": {"train": {"punch": 1.0, "kick": 1.0, "other": 1.0}}}
    assert summary == "cut: train: {'punch': 4, 'kick': 6, 'other': 12} -> {'punch': 4, 'kick': 4, 'other': 4}"


def test_weighing_keeps_every_labelled_training_frame_and_states_the_weights(tmp_path):
    cfg = with_balance(default_config(), splits=["train"], method="weight", seed=3)
    frames_folder(tmp_path / "frames")
    summary = balance.run(cfg, tmp_path / "frames", tmp_path / "balanced")
    out = read_dataset(tmp_path / "balanced").manifest
    assert out["target"].to_numpy().tolist() == (out["label"] != "").to_numpy().tolist()
    weights = json.loads((tmp_path / "balanced/counts.json").read_text())["weights"]["train"]
    assert weights == {"punch": 22 / 12, "kick": 22 / 18, "other": 22 / 36}  # 4, 6, 12 frames weigh alike
    assert summary.startswith("weight: ") and "punch 1.83, kick 1.22, other 0.61" in summary


def test_the_cut_is_seeded_and_follows_balance_splits(tmp_path):
    frames_folder(tmp_path / "frames")

    def chosen(cfg, name):
        balance.run(cfg, tmp_path / "frames", tmp_path / name)
        return read_dataset(tmp_path / name).manifest["target"].to_numpy()

    cfg = with_balance(default_config(), splits=["train"], method="cut", seed=3)
    first = chosen(cfg, "a")
    assert np.array_equal(first, chosen(cfg, "b"))
    assert not np.array_equal(first, chosen(with_balance(cfg, seed=4), "c"))  # other frames, same counts
    both = read_dataset(tmp_path / "frames").manifest.assign(target=chosen(with_balance(cfg, splits=["train", "val"]),
                                                                            "d"))
    assert targets_per_class(both, "val") == {"punch": 1, "kick": 1, "other": 1}
    assert targets_per_class(both, "test") == {"punch": 1, "kick": 2, "other": 6}


def test_a_training_split_without_a_class_stops_the_stage_and_keeps_the_last_output(tmp_path, capsys):
    frames_folder(tmp_path / "good")
    balance.run(default_config(), tmp_path / "good", tmp_path / "balanced")
    before = (tmp_path / "balanced/manifest.csv").read_bytes()
    frames_folder(tmp_path / "bad", {**COUNTS, "train": {"punch": 4, "kick": 0, "other": 12}})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(to_dict(default_config())))
    code = balance.main(["--params", str(params), "--frames-dir", str(tmp_path / "bad"),
                         "--out-dir", str(tmp_path / "balanced")])
    assert code == 2
    assert "split 'train' has no kick frames" in capsys.readouterr().err
    assert (tmp_path / "balanced/manifest.csv").read_bytes() == before
    with pytest.raises(DataError, match="nowhere/manifest.csv: not found"):
        balance.run(default_config(), tmp_path / "nowhere", tmp_path / "balanced")
