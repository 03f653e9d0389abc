"""Embed: every frame through ImageNet MobileNet v1, pooled outputs of all candidate layers.

All candidate layers come from ONE forward pass and are cached one file per layer, so a sweep
over `embed.layer` trains on these files and never embeds again.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kombat.backbone import feature_model
from kombat.cli import stage_main
from kombat.schema import KombatConfig
from kombat.storage import MANIFEST_FILE, atomic_dir, read_dataset, write_json


def embed_frames(model, images: np.ndarray, batch_size: int, layers: list[str]) -> dict[str, np.ndarray]:
    """Pooled embeddings per layer for (N, H, W, 3) uint8 frames, in batches with a progress bar."""
    outputs: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    with tqdm(total=len(images), desc="embed", unit="frame") as progress:
        for start in range(0, len(images), batch_size):
            batch = np.asarray(images[start : start + batch_size])
            pooled = model.predict_on_batch(batch)
            for layer, values in zip(layers, pooled):
                outputs[layer].append(np.asarray(values, dtype=np.float32))
            progress.update(len(batch))
    return {layer: np.concatenate(parts) for layer, parts in outputs.items()}


def run(cfg: KombatConfig, augmented_dir: Path, out_dir: Path) -> str:
    dataset = read_dataset(augmented_dir, mmap=True)
    layers = list(cfg.backbone.candidate_layers)
    model = feature_model(cfg.backbone, cfg.embed, tuple(dataset.images.shape[1:]), layers)
    started = time.perf_counter()
    embeddings = embed_frames(model, dataset.images, cfg.embed.batch_size, layers)
    seconds = time.perf_counter() - started
    rate = len(dataset.images) / max(seconds, 1e-9)
    with atomic_dir(out_dir) as tmp:
        for layer, values in embeddings.items():
            np.save(tmp / f"{layer}.npy", values)
        dataset.manifest.to_csv(tmp / MANIFEST_FILE, index=False)
        # No timings here: the folder's bytes must depend on its inputs only (DVC caches by hash).
        write_json(tmp / "meta.json", {"layers": {k: v.shape[1] for k, v in embeddings.items()},
                                       "frames": len(dataset.images)})
    dims = ", ".join(f"{k} {v.shape[1]}" for k, v in embeddings.items())
    return f"{len(dataset.images)} frames through MobileNet in {seconds:.1f} s ({rate:.0f} frames/s); layers: {dims}"


def main(argv: list[str] | None = None) -> int:
    return stage_main("embed", __doc__, run, {"augmented_dir": "augmented dataset", "out_dir": "embeddings folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
