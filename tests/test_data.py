"""Annotations, frame sampling, the split by actor and balancing, on small tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kombat.data import (
    assign_splits,
    balance_mask,
    class_counts,
    label_at,
    sample_frames,
)
from kombat.errors import ConfigError, DataError
from kombat.recordings import parse_annotations
from kombat.schema import SplitConfig


def table(rows, columns=("video", "start", "end", "label", "actor")):
    return pd.DataFrame(rows, columns=list(columns))


def test_parse_annotations_accepts_and_defaults_actor_to_video():
    rows = parse_annotations(table([("a.mp4", 0, 1, "punch"), ("a.mp4", 1, 2.5, "other")], ("video", "start", "end", "label")), "ann.csv")
    assert rows["actor"].tolist() == ["a", "a"]
    assert rows["end"].tolist() == [1.0, 2.5]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("a.mp4", 0, 1, "jump", "x")], "unknown label 'jump'"),
        ([("a.mp4", 2, 1, "kick", "x")], "empty or negative"),
        ([("a.mp4", "soon", 1, "kick", "x")], "start 'soon' is not a number"),
        ([("a.mp4", 0, 2, "kick", "x"), ("a.mp4", 1, 3, "punch", "x")], "overlap"),
    ],
)
def test_parse_annotations_rejects_bad_rows(rows, message):
    with pytest.raises(DataError, match=message) as error:
        parse_annotations(table(rows), "ann.csv")
    assert str(error.value).startswith("ann.csv")


def test_parse_annotations_rejects_wrong_columns():
    with pytest.raises(DataError, match=r"missing column\(s\) \['label'\]"):
        parse_annotations(pd.DataFrame({"video": ["a"], "start": [0], "end": [1]}), "ann.csv")
    with pytest.raises(DataError, match="unknown column"):
        parse_annotations(table([("a.mp4", 0, 1, "kick", "x", 3)], ("video", "start", "end", "label", "actor", "mood")), "a.csv")


def test_sample_frames_takes_one_frame_per_interval():
    picks = sample_frames(n_frames=90, video_fps=30, sample_fps=10)
    assert [i for i, _ in picks] == list(range(0, 90, 3))
    assert picks[1] == (3, 0.1)
    # A slower video than the sample rate: each frame once.
    assert [i for i, _ in sample_frames(10, 5, 10)] == list(range(10))
    assert sample_frames(0, 30, 10) == []


def test_label_at_is_start_inclusive_end_exclusive():
    segments = table([("v", 0.0, 1.0, "punch", "a"), ("v", 1.5, 2.0, "kick", "a")])
    assert label_at(segments, 0.0) == "punch"
    assert label_at(segments, 1.0) is None  # between segments: not used
    assert label_at(segments, 1.5) == "kick"
    assert label_at(segments, 2.0) is None


def test_assign_splits_by_actor_is_seeded_and_complete():
    actors = [f"actor{i}" for i in range(8)] * 3
    cfg = SplitConfig()
    splits = assign_splits(actors, cfg)
    assert splits == assign_splits(list(reversed(actors)), cfg)
    assert sorted(splits.values()).count("test") == 2 and sorted(splits.values()).count("val") == 2
    assert assign_splits(actors, SplitConfig(seed=1)) != splits


def test_assign_splits_respects_named_actors_and_rejects_unknown():
    splits = assign_splits(["a", "b", "c", "d"], SplitConfig(test_actors=["b"], val_actors=["c"]))
    assert splits == {"a": "train", "b": "test", "c": "val", "d": "train"}
    with pytest.raises(ConfigError, match="split.test_actors"):
        assign_splits(["a", "b", "c"], SplitConfig(test_actors=["zed"]))
    with pytest.raises(DataError, match="at least 3"):
        assign_splits(["a", "b"], SplitConfig())


def manifest(counts: dict[str, int], split="train") -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return pd.DataFrame({"label": labels, "split": split, "actor": "a", "source": "s", "time": 0.0})


def test_balance_cuts_every_class_to_the_smallest():
    frames = pd.concat([manifest({"punch": 5, "kick": 7, "other": 30}), manifest({"punch": 1, "kick": 2, "other": 9}, "test")],
                       ignore_index=True)
    keep = balance_mask(frames, ["train"], seed=44)
    kept = frames[keep]
    assert class_counts(kept, "train") == {"punch": 5, "kick": 5, "other": 5}
    assert class_counts(kept, "test") == {"punch": 1, "kick": 2, "other": 9}  # untouched
    assert np.array_equal(keep, balance_mask(frames, ["train"], seed=44))
    assert not np.array_equal(keep, balance_mask(frames, ["train"], seed=45))


def test_balance_names_an_empty_class():
    with pytest.raises(DataError, match="no kick frames"):
        balance_mask(manifest({"punch": 3, "kick": 0, "other": 3}), ["train"], seed=0)
