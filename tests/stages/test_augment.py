"""The augment stage: originals first and untouched, then each training clip's copies as contiguous
blocks in tick order; validation and test never augmented."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kombat.data import clip_starts
from kombat.stages.augment import augment_dataset, preview_grid
from kombat.storage import Dataset

from ..test_augment import clip_of_a_moving_square


def test_only_training_clips_are_copied_each_copy_a_block_in_tick_order():
    images = np.concatenate([clip_of_a_moving_square(4)] * 3)
    manifest = pd.DataFrame({"source": np.repeat(["a.mp4", "b.mp4", "c.mp4"], 4), "actor": np.repeat(["a", "b", "c"], 4),
                             "time": np.tile([0.0, 0.1, 0.2, 0.3], 3), "tick": np.tile(np.arange(4), 3),
                             "label": ["", "punch", "kick", "other"] * 3,
                             "split": np.repeat(["train", "train", "test"], 4)})
    out = augment_dataset(Dataset(images, manifest), copies=3, seed=44)
    m = out.manifest
    assert len(m) == 12 + 2 * 3 * 4
    assert np.array_equal(out.images[:12], images) and (m["copy"][:12] == 0).all()  # originals first, untouched
    assert set(m.loc[m["copy"] > 0, "split"]) == {"train"}
    assert m[m["copy"] > 0].groupby(["source", "copy"]).size().to_dict() == {(s, k): 4 for s in ("a.mp4", "b.mp4")
                                                                           for k in (1, 2, 3)}
    starts = clip_starts(m)  # raises unless every clip copy is contiguous and in tick order
    assert len(set(starts)) == 3 + 2 * 3
    grid = preview_grid(out, rows=2, copies=3)
    assert grid.shape[1] == 4 * 100 and grid.shape[0] >= 2 * 56
