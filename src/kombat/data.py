"""Pure data logic: frame labels, the split by actor (or by take), balancing, windows of ticks.

No files are read here; the stages pass tables and arrays in and write what comes back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kombat.errors import ConfigError, DataError
from kombat.schema import SplitConfig
from kombat.tasks import LABELS


def label_at(segments: pd.DataFrame, t: float) -> str | None:
    """The label of the segment holding time t (start inclusive, end exclusive), else None."""
    hit = segments[(segments["start"] <= t + 1e-9) & (t < segments["end"] - 1e-9)]
    return str(hit["label"].iloc[0]) if len(hit) else None


MIN_GROUPS = 3  # train, val, test: one group each at least

# What a split's validation and test figures mean, said on every report that shows them.
VALIDATION_MEANS = {
    "actor": "validation and test are actors the model never trained on",
    "take": ("validation and test are other takes of the same person(s) (split by take): expect lower scores on "
             "other people and rooms"),
}


def split_unit(actors: list[str], cfg: SplitConfig, has_takes: bool = True) -> str:
    """What the split keeps apart: `split.by`, or for auto, actors when there are 3 or more of them,
    else takes (one video each), so that one person alone can train, validate and test. Images have
    no takes (one image each would put near-identical stills in train and test): auto keeps actors."""
    if cfg.by != "auto":
        return cfg.by
    return "actor" if len(set(actors)) >= MIN_GROUPS or not has_takes else "take"


def split_unit_of(manifest: pd.DataFrame) -> str:
    """What a split manifest kept apart: 'actor' when no actor is in two splits, else 'take'."""
    return "actor" if manifest.groupby("actor")["split"].nunique().max() <= 1 else "take"


def assign_splits(groups: list[str], cfg: SplitConfig, unit: str = "actor") -> dict[str, str]:
    """group (an actor, or a take) -> train/val/test. Named actors go where named; the rest are drawn by seed."""
    known = sorted(set(groups))
    named = {"test_actors": list(cfg.test_actors), "val_actors": list(cfg.val_actors)}
    if unit == "take" and any(named.values()):
        raise ConfigError(f"split.test_actors / split.val_actors name actors, but the split is by take "
                          f"(split.by {cfg.by}): leave them empty, or set split.by actor")
    for key, names in named.items():
        wrong = [a for a in names if a not in known]
        if wrong:
            raise ConfigError(f"split.{key}: unknown actor(s) {wrong}; the data has {known}")
    both = set(cfg.test_actors) & set(cfg.val_actors)
    if both:
        raise ConfigError(f"split: actor(s) {sorted(both)} are in both test_actors and val_actors")
    if len(known) < MIN_GROUPS:
        fix = ("record more takes (the recorder makes one video per take)" if unit == "take" else
               "add an actor column, or split.by take to split one person's takes")
        raise DataError(f"the data has {len(known)} {unit}(s) {known}; a split by {unit} needs at least "
                        f"{MIN_GROUPS} (train, val, test): {fix}")
    rng = np.random.default_rng(cfg.seed)
    rest = [a for a in rng.permutation(known) if a not in (*cfg.test_actors, *cfg.val_actors)]
    test = list(cfg.test_actors) or rest[: max(1, round(len(known) * cfg.test_fraction))]
    rest = [a for a in rest if a not in test]
    val = list(cfg.val_actors) or rest[: max(1, round(len(known) * cfg.val_fraction))]
    train = [a for a in rest if a not in val]
    if not train:
        raise DataError(f"no {unit} is left for training after test {test} and val {val}")
    return {a: "test" if a in test else "val" if a in val else "train" for a in known}


def class_counts(manifest: pd.DataFrame, split: str) -> dict[str, int]:
    labels = manifest.loc[manifest["split"] == split, "label"]
    return {label: int((labels == label).sum()) for label in LABELS}


def balance_mask(manifest: pd.DataFrame, splits: list[str], seed: int) -> np.ndarray:
    """Training targets (bool per row): labelled frames, where in each split of `splits` every class is
    cut to the smallest class's count (the article dropped surplus frames); other splits keep every
    labelled frame. Unlabelled frames are never targets (they stay as context). Seeded, in row order."""
    rng = np.random.default_rng(seed)
    keep = manifest["label"].isin(LABELS).to_numpy().copy()
    for split in splits:
        in_split = manifest["split"].to_numpy() == split
        if not in_split.any():
            continue
        counts = class_counts(manifest, split)
        empty = [label for label, n in counts.items() if n == 0]
        if empty:
            raise DataError(f"split {split!r} has no {', '.join(empty)} frames; every class needs examples")
        target = min(counts.values())
        for label in LABELS:
            rows = np.flatnonzero(in_split & (manifest["label"].to_numpy() == label))
            drop = rng.choice(rows, size=len(rows) - target, replace=False)
            keep[drop] = False
    return keep


def clip_starts(manifest: pd.DataFrame) -> np.ndarray:
    """For each row, the row where its clip copy starts. Rows of one clip copy (source, copy) must be
    contiguous and in tick order, as extract and augment write them; a window is then an index range."""
    copy = manifest["copy"].to_numpy() if "copy" in manifest else np.zeros(len(manifest), int)
    source = manifest["source"].to_numpy()
    tick = manifest["tick"].to_numpy()
    new = np.ones(len(manifest), dtype=bool)
    new[1:] = (source[1:] != source[:-1]) | (copy[1:] != copy[:-1])
    if len(tick) > 1 and np.any(~new[1:] & (tick[1:] <= tick[:-1])):
        raise DataError("manifest: the frames of a clip are not in tick order")
    starts = np.flatnonzero(new)
    return starts[np.searchsorted(starts, np.arange(len(manifest)), side="right") - 1]


def window_rows(starts: np.ndarray, rows: np.ndarray, window: int) -> np.ndarray:
    """(len(rows), window) row indices: each row's last `window` ticks, oldest first, ending at the row
    itself. Never a later tick and never another clip: before a clip's first tick the window repeats
    that first frame (as play does while it warms up)."""
    rows = np.asarray(rows, dtype=np.int64)
    back = np.arange(window - 1, -1, -1)
    return np.maximum(rows[:, None] - back[None, :], starts[rows][:, None])


def previous_rows(starts: np.ndarray, gap: int) -> np.ndarray:
    """For each row, the row `gap` ticks earlier in its clip copy (a clip's first ticks: themselves)."""
    return window_rows(starts, np.arange(len(starts)), gap + 1)[:, 0]
