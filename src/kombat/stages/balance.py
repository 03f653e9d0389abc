"""Balance: bring every class of the training split to the same count, as the article did.

Surplus frames (mostly `other`) stop being training targets, chosen at random with a fixed seed;
they stay in the data as context for the frames after them (the `target` column says which rows
the head trains on). Validation and test keep their natural mix and are scored with
class-balanced metrics instead.
"""

from __future__ import annotations

from pathlib import Path

from kombat.cli import stage_main
from kombat.data import balance_mask, class_counts
from kombat.schema import KombatConfig
from kombat.storage import Dataset, atomic_dir, read_dataset, write_dataset, write_json


def run(cfg: KombatConfig, frames_dir: Path, out_dir: Path) -> str:
    dataset = read_dataset(frames_dir)
    before = {split: class_counts(dataset.manifest, split) for split in cfg.balance.splits}
    targets = balance_mask(dataset.manifest, cfg.balance.splits, cfg.balance.seed)
    balanced = Dataset(dataset.images, dataset.manifest.assign(target=targets), dataset.landmarks)
    after = {split: class_counts(balanced.manifest[targets], split) for split in cfg.balance.splits}
    with atomic_dir(out_dir) as tmp:
        write_dataset(tmp, balanced)
        write_json(tmp / "counts.json", {"before": before, "after": after})
    return "; ".join(f"{split}: {before[split]} -> {after[split]}" for split in cfg.balance.splits)


def main(argv: list[str] | None = None) -> int:
    return stage_main("balance", __doc__, run, {"frames_dir": "frames dataset", "out_dir": "balanced dataset"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
