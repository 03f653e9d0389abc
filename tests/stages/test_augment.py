"""The augment stage: originals first and untouched, then each clip's copies (a video's tick streams
together) as contiguous blocks in tick order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kombat.data import clip_starts
from kombat.stages.augment import augment_dataset, preview_grid
from kombat.storage import Dataset

from ..test_augment import _landmarks, clip_of_a_moving_square


def test_every_clip_is_copied_each_copy_a_block_in_tick_order():
    images = np.concatenate([clip_of_a_moving_square(4)] * 4)
    manifest = pd.DataFrame({"source": np.repeat(["a.mp4", "b.mp4", "c.mp4", "c.mp4"], 4),
                             "actor": np.repeat(["a", "b", "c", "c"], 4),
                             "time": np.tile([0.0, 0.1, 0.2, 0.3], 4), "tick": np.tile(np.arange(4), 4),
                             "phase": np.repeat([0, 0, 0, 1], 4),  # c.mp4 has two tick streams
                             "label": ["", "punch", "kick", "other"] * 4,
                             "split": np.repeat(["train", "train", "test", "test"], 4)})
    out = augment_dataset(Dataset(images, manifest), copies=3, seed=44)
    m = out.manifest
    assert len(m) == 16 * 4
    assert np.array_equal(out.images[:16], images) and (m["copy"][:16] == 0).all()  # originals first, untouched
    assert m[m["copy"] > 0].groupby(["source", "phase", "copy"]).size().to_dict() == {
        (s, p, k): 4 for s, p in (("a.mp4", 0), ("b.mp4", 0), ("c.mp4", 0), ("c.mp4", 1)) for k in (1, 2, 3)}
    starts = clip_starts(m)  # raises unless every clip copy is contiguous and in tick order
    assert len(set(starts)) == 4 * 4
    copies = out.images[m.index[(m["source"] == "c.mp4") & (m["copy"] == 1)]]
    assert not np.array_equal(copies, images[8:])  # augmented, the same draw for both of a video's streams
    grid = preview_grid(out, rows=2, copies=3)
    assert grid.shape[1] == 4 * 100 and grid.shape[0] >= 2 * 56


def test_only_the_named_splits_are_copied_and_their_copies_do_not_change():
    images = np.concatenate([clip_of_a_moving_square(4)] * 3)
    manifest = pd.DataFrame({"source": np.repeat(["a.mp4", "b.mp4", "c.mp4"], 4), "actor": np.repeat(["a", "b", "c"], 4),
                             "time": np.tile([0.0, 0.1, 0.2, 0.3], 3), "tick": np.tile(np.arange(4), 3),
                             "phase": 0, "label": ["", "punch", "kick", "other"] * 3,
                             "split": np.repeat(["test", "train", "val"], 4)})  # a test clip drawn before the training one
    every = augment_dataset(Dataset(images, manifest), copies=2, seed=44)
    train = augment_dataset(Dataset(images, manifest), copies=2, seed=44, splits=["train"])
    m = train.manifest
    assert len(m) == 12 + 2 * 4 and set(m.loc[m["copy"] > 0, "source"]) == {"b.mp4"}
    assert np.array_equal(train.images[:12], images)  # every clip as recorded
    for k in (1, 2):  # the training clip's copies: the same bytes as when every clip is copied
        mine = train.images[m.index[(m["source"] == "b.mp4") & (m["copy"] == k)]]
        theirs = every.images[every.manifest.index[(every.manifest["source"] == "b.mp4") & (every.manifest["copy"] == k)]]
        assert np.array_equal(mine, theirs) and not np.array_equal(mine, images[4:8])
    clip_starts(m)  # every clip copy contiguous and in tick order
    assert len(augment_dataset(Dataset(images, manifest), copies=2, seed=44, splits=[]).images) == 12


def test_the_same_bytes_on_one_core_or_two(monkeypatch):
    from kombat import workers

    images = np.concatenate([clip_of_a_moving_square(3)] * 3)
    points = _landmarks(9)  # the pose input's landmarks travel to the workers with their frames
    manifest = pd.DataFrame({"source": np.repeat(["a.mp4", "b.mp4", "c.mp4"], 3), "actor": np.repeat(["a", "b", "c"], 3),
                             "time": np.tile([0.0, 0.1, 0.2], 3), "tick": np.tile(np.arange(3), 3), "phase": 0,
                             "label": ["", "punch", "kick"] * 3, "split": "train"})
    runs = {}
    for n in (1, 2):
        monkeypatch.setattr(workers, "cores", lambda n=n: n)
        runs[n] = augment_dataset(Dataset(images, manifest, points), copies=2, seed=44)
        runs[f"{n} no landmarks"] = augment_dataset(Dataset(images, manifest), copies=2, seed=44)
    assert np.array_equal(runs[1].images, runs[2].images)  # the draws are made in order, applied anywhere
    assert np.array_equal(runs[1].landmarks, runs[2].landmarks) and len(runs[2].landmarks) == 27
    assert np.array_equal(runs["1 no landmarks"].images, runs["2 no landmarks"].images)
    assert np.array_equal(runs[2].images, runs["2 no landmarks"].images)  # landmarks never change the frames
    pd.testing.assert_frame_equal(runs[1].manifest, runs[2].manifest)
