"""Pure data logic: frame labels, the split by actor (or by take), balancing, windows of ticks.

No files are read here; the stages pass tables and arrays in and write what comes back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kombat.errors import ConfigError, DataError
from kombat.schema import BALANCE_METHODS, SplitConfig
from kombat.tasks import LABELS


SEGMENT_EPS = 1e-9  # seconds: float rounding where a time meets a segment's start or end (ticks: video.TIME_EPS)


def labels_at(segments: pd.DataFrame, times, chunk: int = 4096) -> list[str | None]:
    """For each time, the label of the (first) segment holding it (start inclusive, end exclusive), else None.
    Times are compared with every segment `chunk` at a time, so memory stays small for long videos."""
    starts, ends = segments["start"].to_numpy(float), segments["end"].to_numpy(float)
    labels = segments["label"].astype(str).to_numpy()
    times = np.asarray(times, dtype=float)
    found: list[str | None] = []
    for i in range(0, len(times), chunk):
        t = times[i:i + chunk, None]
        inside = (starts <= t + SEGMENT_EPS) & (t < ends - SEGMENT_EPS)
        found += [str(labels[row.argmax()]) if row.any() else None for row in inside]
    return found


def label_at(segments: pd.DataFrame, t: float) -> str | None:
    """The label of the segment holding time t (start inclusive, end exclusive), else None."""
    return labels_at(segments, [t])[0]


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


def balance_mask(manifest: pd.DataFrame, splits: list[str], seed: int, method: str) -> np.ndarray:
    """Training targets (bool per row): labelled frames, where in each split of `splits` every class is
    cut to the smallest class's count (method `cut`, as the article dropped surplus frames) or every
    labelled frame is kept (method `weight`: training weighs the classes instead, class_weights);
    other splits keep every labelled frame. Unlabelled frames are never targets (they stay as
    context). Seeded, in row order."""
    if method not in BALANCE_METHODS:
        raise ValueError(f"balance method {method!r} is not one of {BALANCE_METHODS}")
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
        if method == "weight":
            continue
        target = min(counts.values())
        for label in LABELS:
            rows = np.flatnonzero(in_split & (manifest["label"].to_numpy() == label))
            drop = rng.choice(rows, size=len(rows) - target, replace=False)
            keep[drop] = False
    return keep


def class_weights(counts: list[int]) -> list[float]:
    """Inverse-frequency weights of classes with these target counts (1.0 each when they are equal):
    each class then weighs as much in the loss as the others; a class without targets weighs 0."""
    total, present = sum(counts), sum(1 for n in counts if n)
    return [total / (present * n) if n else 0.0 for n in counts]


def clip_starts(manifest: pd.DataFrame) -> np.ndarray:
    """For each row, the row where its clip copy starts. Rows of one clip copy (source, phase, copy) must
    be contiguous and in tick order, as extract and augment write them; a window is then an index range."""
    new = np.zeros(len(manifest), dtype=bool)
    new[:1] = True
    for key in ("source", "phase", "copy"):
        if key in manifest:
            column = manifest[key].to_numpy()
            new[1:] |= column[1:] != column[:-1]
    tick = manifest["tick"].to_numpy()
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


def fold_splits(groups: list[str], cfg: SplitConfig, folds: int, unit: str = "actor") -> list[dict[str, str]]:
    """Cross-validation by actor (or take): one {group: train/val/test} per fold. The test groups come
    in turn: `split.test_actors` when named (they are never trained on), else every group; `folds`
    of them (0 or more than there are: one each, leave-one-out). Each fold validates on the next
    groups in a seeded order, about `split.val_fraction` of those it may train on, and trains on
    the rest, so a fold never scores a group it trained on."""
    known = sorted(set(groups))
    if len(known) < MIN_GROUPS:
        raise DataError(f"the data has {len(known)} {unit}(s) {known}; cross-validation by {unit} needs at least "
                        f"{MIN_GROUPS} (train, val, test)")
    named = [a for a in cfg.test_actors if a in known] if unit == "actor" else []
    rng = np.random.default_rng(cfg.seed)
    testable = list(rng.permutation(named or known))
    trainable = [a for a in rng.permutation(known) if a not in named]
    k = len(testable) if folds <= 0 or folds >= len(testable) else folds
    chunks = [testable[i::k] for i in range(k)]
    splits = []
    for i, test in enumerate(chunks):
        pool = [a for a in trainable[i:] + trainable[:i] if a not in test]  # a different validation each fold
        n_val = max(1, round(len(pool) * cfg.val_fraction))
        if len(pool) - n_val < 1:
            raise DataError(f"fold {i + 1}: testing {unit}(s) {test} leaves {pool} for validation and training; "
                            f"cross-validation needs more {unit}s or fewer folds")
        val = pool[:n_val]
        splits.append({a: "test" if a in test else "val" if a in val else "train" if a in pool else "" for a in known})
    return splits


def fewer_training(fold: dict[str, str], n: int, seed: int) -> dict[str, str]:
    """The fold with only `n` of its training groups (drawn by seed; the rest left out), for a learning curve."""
    train = sorted(a for a, split in fold.items() if split == "train")
    kept = set(np.random.default_rng(seed).permutation(train)[:n])
    return {a: split if split != "train" or a in kept else "" for a, split in fold.items()}
