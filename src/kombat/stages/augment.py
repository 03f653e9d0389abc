"""Augment: the article's imgaug pipeline, `augment.copies` copies of every clip of `augment.splits`.

Each copy is one augmentation draw applied to every frame of the clip (the same crop, flip and
colour from tick to tick), so motion images and windows of ticks see the fighter move, not the
augmenter. Every frame is kept (copy 0) and followed by its clip's copies. The pipeline trains on
the training split's copies and scores validation and test on copy 0 only (kombat.training), so
only the clips of `augment.splits` (the training split by default) are copied: cross-validation
(kombat.crossval), whose folds train on any actor, needs `augment.splits: [train, val, test]`. Every
clip's draws are made either way, in order, so a clip's copies are the same bytes whichever splits
are copied. A preview grid (original then copies) is written for `dvc plots`. A dataset with landmarks
(the config embeds pose) gets them moved by the same draw as their frame (kombat.augment), so a
flipped copy's pose is the flipped fighter's.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from kombat.augment import apply_draws, apply_draws_with_landmarks, prepare_worker
from kombat.cli import stage_main
from kombat.schema import KombatConfig
from kombat.storage import Dataset, atomic_dir, read_dataset, write_dataset
from kombat.workers import in_processes

PREVIEW_ROWS, PREVIEW_COPIES = 4, 7


def augment_dataset(dataset: Dataset, copies: int, seed: int, splits: list[str] | None = None) -> Dataset:
    """Every frame as it is (copy 0), then `copies` augmented copies of each clip (a video's tick
    streams together) of `splits` (None: every clip), each copy a contiguous block in tick order (so a
    window stays an index range). Landmarks, when the dataset has them, move with their frames (the same
    draw: augment_with_landmarks). The draws are made here for every clip, in order (a clip left
    uncopied still takes its draws), and applied on every core (kombat.workers): the same bytes on one
    core or many, and for a clip whichever other clips are copied."""
    from kombat.augment import article_pipeline, draws

    manifest = dataset.manifest.assign(copy=0)
    clips = [indices.to_numpy() for _, indices in manifest.index.to_series().groupby(manifest["source"], sort=True)]
    pipeline = article_pipeline(seed)
    wanted = [splits is None or manifest.loc[indices[0], "split"] in splits for indices in clips]
    drawn = (draws(pipeline, copies) for _ in clips)  # every clip's, in order, as the jobs are consumed
    copied_clips = [indices for indices, copy_it in zip(clips, wanted) if copy_it]
    landmarks = None if dataset.landmarks is None else [np.asarray(dataset.landmarks)]

    def job(indices: np.ndarray, clip_draws) -> tuple:
        frames = np.asarray(dataset.images[indices])
        return (frames, clip_draws) if landmarks is None else (frames, np.asarray(dataset.landmarks[indices]), clip_draws)

    work = apply_draws if landmarks is None else apply_draws_with_landmarks
    jobs = (job(indices, clip_draws) for indices, clip_draws, copy_it in zip(clips, drawn, wanted) if copy_it)
    images, rows = [dataset.images], [manifest]
    with tqdm(total=sum(map(len, copied_clips)) * copies, desc="augment", unit="img") as progress:
        for indices, copied in zip(copied_clips, in_processes(work, jobs, prepare=prepare_worker)):
            for k, copy in enumerate(copied, start=1):
                frames, points = copy if landmarks is not None else (copy, None)
                images.append(frames)
                if landmarks is not None:
                    landmarks.append(points)
                rows.append(manifest.loc[indices].assign(copy=k))
                progress.update(len(frames))
    return Dataset(np.concatenate(images), pd.concat(rows, ignore_index=True),
                   None if landmarks is None else np.concatenate(landmarks))


def preview_grid(dataset: Dataset, rows: int, copies: int) -> np.ndarray:
    """Rows of training frames: the original, then up to `copies` of its augmented copies."""
    manifest = dataset.manifest
    originals = manifest.index[(manifest["split"] == "train") & (manifest["copy"] == 0)]
    picks = originals[np.linspace(0, len(originals) - 1, min(rows, len(originals))).astype(int)] if len(originals) else []
    tiles = []
    for index in picks:
        row = manifest.loc[index]
        same = manifest.index[(manifest["source"] == row.source) & (manifest["time"] == row.time) & (manifest["split"] == "train")]
        tiles.append(np.concatenate([dataset.images[i] for i in list(same)[: copies + 1]], axis=1))
    width = max((t.shape[1] for t in tiles), default=1)
    tiles = [np.pad(t, ((0, 2), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    return np.concatenate(tiles) if tiles else np.zeros((1, 1, 3), np.uint8)


def run(cfg: KombatConfig, balanced_dir: Path, out_dir: Path, preview: Path) -> str:
    dataset = read_dataset(balanced_dir)
    augmented = augment_dataset(dataset, cfg.augment.copies, cfg.augment.seed, list(cfg.augment.splits))
    grid = preview_grid(augmented, PREVIEW_ROWS, PREVIEW_COPIES)
    with atomic_dir(out_dir) as tmp:
        write_dataset(tmp, augmented)
    preview.parent.mkdir(parents=True, exist_ok=True)
    scaled = cv2.resize(grid, (grid.shape[1] * 2, grid.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(preview), cv2.cvtColor(scaled, cv2.COLOR_RGB2BGR))
    n_clips = dataset.manifest["source"].nunique()
    n_copied = augmented.manifest.loc[augmented.manifest["copy"] > 0, "source"].nunique()
    return (f"{n_clips} clips ({len(dataset.images)} frames) -> {len(augmented.images)} frames with "
            f"{cfg.augment.copies} copies of each of the {n_copied} clips of {'/'.join(cfg.augment.splits) or 'no split'}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("augment", __doc__, run, {"balanced_dir": "balanced dataset", "out_dir": "augmented dataset",
                                                "preview": "preview grid PNG"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
