"""Embed: every frame through the backbone, as each candidate input, pooled at every candidate layer.

Inputs (`embed.candidate_inputs`): `still`, the frame itself (the article's), and `motion`, the
motion image of the frame and the one `embed.motion_gap` ticks before it in the same clip copy
(kombat.frames.motion_image, the function play calls). All candidate layers come from ONE forward
pass, and everything is cached one file per input and layer, so a sweep over `embed.input`,
`embed.layer`, the head and its window trains on these files and never embeds again.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kombat.backbone import feature_model
from kombat.cli import stage_main
from kombat.data import clip_starts, previous_rows
from kombat.frames import motion_image
from kombat.schema import KombatConfig
from kombat.storage import MANIFEST_FILE, atomic_dir, read_dataset, write_json


def input_batch(images: np.ndarray, rows: np.ndarray, kind: str, previous: np.ndarray, gain: float) -> np.ndarray:
    """The backbone's input for `rows`: the frames themselves, or their motion images."""
    if kind == "still":
        return np.asarray(images[rows])
    return np.stack([motion_image(images[previous[i]], images[i], gain) for i in rows])


def embed_frames(model, images: np.ndarray, kind: str, previous: np.ndarray, gain: float, batch_size: int,
                 layers: list[str]) -> dict[str, np.ndarray]:
    """Pooled embeddings per layer for every frame seen as `kind`, in batches with a progress bar."""
    parts: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    with tqdm(total=len(images), desc=f"embed {kind}", unit="frame") as progress:
        for start in range(0, len(images), batch_size):
            rows = np.arange(start, min(start + batch_size, len(images)))
            pooled = model.predict_on_batch(input_batch(images, rows, kind, previous, gain))
            for layer, values in zip(layers, pooled):
                parts[layer].append(np.asarray(values, dtype=np.float32))
            progress.update(len(rows))
    return {layer: np.concatenate(values) for layer, values in parts.items()}


def run(cfg: KombatConfig, augmented_dir: Path, out_dir: Path) -> str:
    dataset = read_dataset(augmented_dir, mmap=True)
    layers = list(cfg.backbone.candidate_layers)
    model = feature_model(cfg.backbone, cfg.embed, tuple(dataset.images.shape[1:]), layers)
    previous = previous_rows(clip_starts(dataset.manifest), cfg.embed.motion_gap)
    started = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        for kind in cfg.embed.candidate_inputs:
            embeddings = embed_frames(model, dataset.images, kind, previous, cfg.embed.motion_gain,
                                      cfg.embed.batch_size, layers)
            (tmp / kind).mkdir()
            for layer, values in embeddings.items():
                np.save(tmp / kind / f"{layer}.npy", values)
        seconds = time.perf_counter() - started
        dataset.manifest.to_csv(tmp / MANIFEST_FILE, index=False)
        # No timings here: the folder's bytes must depend on its inputs only (DVC caches by hash).
        write_json(tmp / "meta.json", {"inputs": list(cfg.embed.candidate_inputs), "frames": len(dataset.images),
                                       "layers": {k: v.shape[1] for k, v in embeddings.items()}})
    n = len(dataset.images) * len(cfg.embed.candidate_inputs)
    return (f"{len(dataset.images)} frames x {len(cfg.embed.candidate_inputs)} inputs "
            f"({', '.join(cfg.embed.candidate_inputs)}) through {cfg.backbone.name} in {seconds:.1f} s "
            f"({n / max(seconds, 1e-9):.0f} images/s); layers: {', '.join(layers)}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("embed", __doc__, run, {"augmented_dir": "augmented dataset", "out_dir": "embeddings folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
