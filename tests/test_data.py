"""Frame labels, the split by actor or by take, balancing and windows of ticks, on small tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from kombat.data import (
    assign_splits,
    balance_mask,
    class_counts,
    clip_starts,
    label_at,
    labels_at,
    previous_rows,
    split_unit,
    split_unit_of,
    window_rows,
)
from kombat.errors import ConfigError, DataError
from kombat.compose import default_config


def split_config(**changes):
    return dataclasses.replace(default_config().split, **changes)


def table(rows, columns=("video", "start", "end", "label", "actor")):
    return pd.DataFrame(rows, columns=list(columns))


def test_label_at_is_start_inclusive_end_exclusive():
    segments = table([("v", 0.0, 1.0, "punch", "a"), ("v", 1.5, 2.0, "kick", "a")])
    assert label_at(segments, 0.0) == "punch"
    assert label_at(segments, 1.0) is None  # between segments: not used
    assert label_at(segments, 1.5) == "kick"
    assert label_at(segments, 2.0) is None


def test_labels_at_labels_every_time_start_inclusive_end_exclusive():
    segments = table([("v", 0.0, 1.0, "punch", "a"), ("v", 1.5, 2.0, "kick", "a"), ("v", 2.0, 2.4, "other", "a")])
    times = [-0.1, 0.0, 0.5, 0.9999, 1.0, 1.2, 1.5, 1.99, 2.0, 2.3, 2.4, 5.0]
    assert labels_at(segments, times) == [None, "punch", "punch", "punch", None, None, "kick", "kick", "other",
                                          "other", None, None]
    assert labels_at(segments, times, chunk=5) == labels_at(segments, times)  # long videos, a chunk at a time
    assert labels_at(segments, []) == []
    assert labels_at(segments.iloc[:0], [0.5]) == [None]


def test_assign_splits_by_actor_is_seeded_and_complete():
    actors = [f"actor{i}" for i in range(8)] * 3
    cfg = split_config()
    splits = assign_splits(actors, cfg)
    assert splits == assign_splits(list(reversed(actors)), cfg)
    assert sorted(splits.values()).count("test") == 2 and sorted(splits.values()).count("val") == 2
    assert assign_splits(actors, split_config(seed=1)) != splits


def test_assign_splits_respects_named_actors_and_rejects_unknown():
    splits = assign_splits(["a", "b", "c", "d"], split_config(test_actors=["b"], val_actors=["c"]))
    assert splits == {"a": "train", "b": "test", "c": "val", "d": "train"}
    with pytest.raises(ConfigError, match="split.test_actors"):
        assign_splits(["a", "b", "c"], split_config(test_actors=["zed"]))
    with pytest.raises(DataError, match="at least 3"):
        assign_splits(["a", "b"], split_config())


def test_one_or_two_people_split_by_take_and_three_by_actor():
    assert split_unit(["alice"] * 5, split_config()) == "take"
    assert split_unit(["alice", "bob"], split_config()) == "take"
    assert split_unit(["alice", "bob", "cy"], split_config()) == "actor"
    assert split_unit(["alice", "bob", "cy"], split_config(by="take")) == "take"
    assert split_unit(["alice"], split_config(by="actor")) == "actor"  # asked for: refused by assign_splits
    assert split_unit(["alice", "bob"], split_config(), has_takes=False) == "actor"  # images: no takes
    takes = [f"videos/alice_take{k}.mp4" for k in range(1, 6)]
    splits = assign_splits(takes, split_config(), "take")
    assert sorted(splits.values()) == ["test", "train", "train", "train", "val"]
    with pytest.raises(DataError, match=r"2 take\(s\) .* at least 3 .*record more takes"):
        assign_splits(takes[:2], split_config(), "take")
    with pytest.raises(ConfigError, match="split is by take"):
        assign_splits(takes, split_config(test_actors=["alice"]), "take")


def test_the_unit_a_manifest_was_split_by_is_read_back_from_it():
    by_actor = pd.DataFrame({"actor": ["a", "a", "b", "c"], "split": ["train", "train", "val", "test"]})
    by_take = pd.DataFrame({"actor": ["a", "a", "a"], "split": ["train", "val", "test"]})
    assert split_unit_of(by_actor) == "actor" and split_unit_of(by_take) == "take"


def manifest(counts: dict[str, int], split="train") -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return pd.DataFrame({"label": labels, "split": split, "actor": "a", "source": "s", "time": 0.0})


def test_balance_cuts_every_class_to_the_smallest():
    frames = pd.concat([manifest({"punch": 5, "kick": 7, "other": 30, "": 4}),
                        manifest({"punch": 1, "kick": 2, "other": 9, "": 3}, "test")], ignore_index=True)
    keep = balance_mask(frames, ["train"], seed=44, method="cut")
    assert not keep[(frames["label"] == "").to_numpy()].any()  # unlabelled frames are context, never targets
    kept = frames[keep]
    assert class_counts(kept, "train") == {"punch": 5, "kick": 5, "other": 5}
    assert class_counts(kept, "test") == {"punch": 1, "kick": 2, "other": 9}  # untouched
    assert np.array_equal(keep, balance_mask(frames, ["train"], seed=44, method="cut"))
    assert not np.array_equal(keep, balance_mask(frames, ["train"], seed=45, method="cut"))


def test_weighing_keeps_every_labelled_frame():
    frames = manifest({"punch": 5, "kick": 7, "other": 30, "": 4})
    keep = balance_mask(frames, ["train"], seed=44, method="weight")
    assert keep.tolist() == (frames["label"] != "").tolist()


def test_balance_names_an_empty_class():
    with pytest.raises(DataError, match="no kick frames"):
        balance_mask(manifest({"punch": 3, "kick": 0, "other": 3}), ["train"], seed=0, method="weight")


def clips(*lengths: int, copies: int = 0) -> pd.DataFrame:
    """A manifest of clips of `lengths` ticks, then `copies` copies of each, every copy contiguous."""
    rows = [{"source": f"c{i}", "tick": t, "copy": k} for k in range(copies + 1) for i, n in enumerate(lengths)
            for t in range(n)]
    return pd.DataFrame(rows)


def test_a_window_never_reaches_into_the_future_or_another_clip():
    m = clips(3, 5, copies=1)  # rows 0-2: c0, 3-7: c1, then their copies 8-10 and 11-15
    starts = clip_starts(m)
    assert starts.tolist() == [0, 0, 0, 3, 3, 3, 3, 3, 8, 8, 8, 11, 11, 11, 11, 11]
    windows = window_rows(starts, np.arange(len(m)), 4)
    assert windows[7].tolist() == [4, 5, 6, 7]  # the last 4 ticks, oldest first, ending at the row itself
    assert windows[3].tolist() == [3, 3, 3, 3]  # a clip's first tick: its own frame stands in (play's warm-up)
    assert windows[9].tolist() == [8, 8, 8, 9]  # a copy never borrows from the clip before it
    for row, window in enumerate(windows):
        same_copy = (m.loc[window, ["source", "copy"]] == m.loc[row, ["source", "copy"]]).all(axis=None)
        assert same_copy and (m.loc[window, "tick"] <= m.loc[row, "tick"]).all() and window[-1] == row


def test_the_previous_tick_of_a_motion_image_stays_in_its_clip():
    starts = clip_starts(clips(3, 2))
    assert previous_rows(starts, 1).tolist() == [0, 0, 1, 3, 3]
    assert previous_rows(starts, 2).tolist() == [0, 0, 0, 3, 3]


def test_frames_out_of_tick_order_are_refused():
    with pytest.raises(DataError, match="not in tick order"):
        clip_starts(pd.DataFrame({"source": ["a", "a"], "tick": [1, 0]}))
