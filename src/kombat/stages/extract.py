"""Extract: labelled frames from the raw data, resized, with a manifest and a split by actor.

Two raw formats: videos/ plus annotations.csv (segments in seconds: video,start,end,label[,actor]),
or the article's folders punch/, kick/, other/ of images. Frames outside every segment are not used.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from kombat.cli import stage_main
from kombat.config import LABELS, DataFormat, KombatConfig
from kombat.data import assign_splits, class_counts, label_at, parse_annotations, sample_frames
from kombat.errors import DataError
from kombat.io import Dataset, atomic_dir, write_dataset, write_json

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def resize(frame_bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """BGR frame of any size -> RGB (height, width, 3) uint8."""
    small = cv2.resize(frame_bgr, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def read_video_frames(path: Path, segments: pd.DataFrame, cfg: KombatConfig) -> tuple[list[np.ndarray], list[dict]]:
    """Frames of one video sampled at extract.fps that fall inside a segment."""
    if not path.is_file():
        raise DataError(f"{path}: video named in the annotations does not exist")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError(f"{path}: cannot be opened as a video (corrupt or not media)")
        video_fps = capture.get(cv2.CAP_PROP_FPS)
        n_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if n_frames <= 0 or not video_fps or video_fps <= 0:
            raise DataError(f"{path}: has no frames (or no frame rate)")
        duration = n_frames / video_fps
        late = segments[segments["end"] > duration + 0.5]
        if len(late):
            raise DataError(f"{path}: segment {late.start.iloc[0]}..{late.end.iloc[0]} s ends after the video ({duration:.2f} s)")
        wanted = dict(sample_frames(n_frames, video_fps, cfg.extract.fps))
        frames, rows = [], []
        index = 0
        while index <= max(wanted, default=-1):
            if not capture.grab():
                break  # truncated: the container promised more frames than it holds
            if index in wanted:
                label = label_at(segments, wanted[index])
                if label is not None:
                    ok, frame = capture.retrieve()
                    if ok and frame is not None:
                        frames.append(resize(frame, cfg.extract.width, cfg.extract.height))
                        rows.append({"time": wanted[index], "label": label})
            index += 1
        if index == 0:
            raise DataError(f"{path}: no frame could be decoded")
        return frames, rows
    finally:
        capture.release()


def extract_videos(raw_dir: Path, cfg: KombatConfig) -> Dataset:
    csv_path = raw_dir / cfg.data.annotations
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: annotations not found (expected video,start,end,label[,actor])")
    try:
        table = pd.read_csv(csv_path, dtype={"video": str, "label": str, "actor": str}, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_path}: cannot parse: {str(exc).splitlines()[0]}") from None
    annotations = parse_annotations(table, str(csv_path))
    images, rows = [], []
    for video, segments in tqdm(annotations.groupby("video", sort=True), desc="extract", unit="video"):
        frames, frame_rows = read_video_frames(raw_dir / video, segments, cfg)
        actor = str(segments["actor"].iloc[0])
        images += frames
        rows += [{"source": video, "actor": actor, **row} for row in frame_rows]
    return _dataset(images, rows, cfg)


def group_of(relative: Path) -> str:
    """Actor of an image in the folders format: its subfolder (punch/alice/1.png), else the file
    name up to the first '_' or '-' (punch/alice_001.png), else the whole stem."""
    if len(relative.parts) > 2:
        return relative.parts[1]
    stem = relative.stem
    for sep in ("_", "-"):
        if sep in stem:
            return stem.split(sep, 1)[0]
    return stem


def extract_folders(raw_dir: Path, cfg: KombatConfig) -> Dataset:
    missing = [label for label in LABELS if not (raw_dir / label).is_dir()]
    if missing:
        raise DataError(f"{raw_dir}: missing class folder(s) {missing}; expected punch/, kick/, other/")
    images, rows = [], []
    paths = sorted(p for label in LABELS for p in (raw_dir / label).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    for path in tqdm(paths, desc="extract", unit="image"):
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{path}: cannot be read as an image (corrupt or not an image)")
        relative = path.relative_to(raw_dir)
        images.append(resize(frame, cfg.extract.width, cfg.extract.height))
        rows.append({"source": relative.as_posix(), "actor": group_of(relative), "time": 0.0,
                     "label": relative.parts[0]})
    return _dataset(images, rows, cfg)


def _dataset(images: list[np.ndarray], rows: list[dict], cfg: KombatConfig) -> Dataset:
    if not images:
        raise DataError("no labelled frames were extracted: check the annotations' segments and extract.fps")
    manifest = pd.DataFrame(rows, columns=["source", "actor", "time", "label"])
    splits = assign_splits(manifest["actor"].tolist(), cfg.split)
    manifest["split"] = manifest["actor"].map(splits)
    return Dataset(np.stack(images), manifest)


def run(cfg: KombatConfig, raw_dir: Path, out_dir: Path) -> str:
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: raw data folder does not exist (data.raw_dir)")
    if cfg.data.format is DataFormat.videos:
        dataset = extract_videos(raw_dir, cfg)
    else:
        dataset = extract_folders(raw_dir, cfg)
    counts = {split: class_counts(dataset.manifest, split) for split in ("train", "val", "test")}
    actors = dataset.manifest.groupby("split")["actor"].unique().map(sorted).to_dict()
    with atomic_dir(out_dir) as tmp:
        write_dataset(tmp, dataset)
        write_json(tmp / "counts.json", {"counts": counts, "actors": actors})
    per_split = "; ".join(f"{split} {sum(c.values())} ({', '.join(f'{k} {v}' for k, v in c.items())})"
                          for split, c in counts.items())
    return f"{len(dataset.images)} frames {cfg.extract.width}x{cfg.extract.height}: {per_split}"


def main(argv: list[str] | None = None) -> int:
    return stage_main("extract", __doc__, run, {"raw_dir": "raw data folder", "out_dir": "frames dataset folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
