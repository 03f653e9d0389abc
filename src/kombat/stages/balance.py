"""Balance: make every class of the training split count alike, by cutting or by weighing.

`balance.method: cut` (the article's): every class is cut to the smallest one's count; surplus
frames (mostly `other`) stop being training targets, chosen at random with a fixed seed, and stay
in the data as context for the frames after them (the `target` column says which rows the head
trains on). `weight`: every labelled frame is a target and training weighs each class by its
inverse frequency (kombat.data.class_weights; counts.json states them per label, as the
three-class task weighs them; training weighs the task's own classes, punch_binary's two, alike). Validation and
test keep their natural mix and are scored with class-balanced metrics instead.
"""

from __future__ import annotations

from pathlib import Path

from kombat.cli import stage_main
from kombat.data import balance_mask, class_counts, class_weights
from kombat.schema import KombatConfig
from kombat.storage import Dataset, atomic_dir, read_dataset, write_dataset, write_json


def run(cfg: KombatConfig, frames_dir: Path, out_dir: Path) -> str:
    dataset = read_dataset(frames_dir)
    before = {split: class_counts(dataset.manifest, split) for split in cfg.balance.splits}
    targets = balance_mask(dataset.manifest, cfg.balance.splits, cfg.balance.seed, cfg.balance.method)
    balanced = Dataset(dataset.images, dataset.manifest.assign(target=targets), dataset.landmarks)
    after = {split: class_counts(balanced.manifest[targets], split) for split in cfg.balance.splits}
    weights = {split: dict(zip(counts, class_weights(list(counts.values())))) for split, counts in after.items()}
    with atomic_dir(out_dir) as tmp:
        write_dataset(tmp, balanced)
        write_json(tmp / "counts.json", {"method": cfg.balance.method, "before": before, "after": after,
                                         "weights": weights})
    summary = "; ".join(f"{split}: {before[split]} -> {after[split]}" for split in cfg.balance.splits)
    if cfg.balance.method == "weight":
        summary += "; weights " + "; ".join(f"{split}: " + ", ".join(f"{label} {w:.2f}" for label, w in w_split.items())
                                            for split, w_split in weights.items())
    return f"{cfg.balance.method}: {summary}"


def main(argv: list[str] | None = None) -> int:
    return stage_main("balance", __doc__, run, {"frames_dir": "frames dataset", "out_dir": "balanced dataset"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
