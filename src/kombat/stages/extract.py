"""Extract: frames from the raw data, resized, with a manifest and a split by actor.

Two raw formats: videos/ plus annotations.csv (segments in seconds: video,start,end,label[,actor]),
or the article's folders punch/, kick/, other/ of images. A video gives every frame at extract.fps
(one per play tick) up to its last labelled one, in tick order: frames outside every segment get
no label, so they are never training targets, but they are the context (motion, a window of ticks)
of the frames after them. With `extract.every_frame` a 30 fps video gives three such tick streams
(phases), one frame apart, so no recorded frame is thrown away while the model still sees ticks
0.1 s apart, as play does. The manifest says each frame's clip (`source`), `phase` and `tick`.

When the config embeds pose (`embed.input` or `embed.candidate_inputs`), BlazePose finds each frame's
landmarks on the full-size decoded frame (a fighter shrunk to 100x56 is too small for it), tracked
from frame to frame through each video (kombat.pose), and landmarks.npy holds them in the model
frame's pixels, one row per frame; frames where nobody is found are counted in the summary.

One bad frame among thousands does not stop the run: an image that cannot be decoded, a frame a
video cannot decode or decodes out of time order (damaged timestamps), or frames missing from a
truncated video are skipped, counted and reported
(`counts.json`, and the summary line); `extract.strict: true` stops at the first instead. A
container's frame count is an estimate: a stream that ends within a few frames of it is whole, and
segments past its last frame are clipped to it (reported, never counted as damage). A file
that is not media at all, a video named in the annotations that is missing or has no frames, bad
annotations, and a class missing from a split stop the run.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from kombat.cli import stage_main
from kombat.data import VALIDATION_MEANS, assign_splits, class_counts, labels_at, split_unit, split_unit_of
from kombat.errors import DataError
from kombat.frames import to_model_frame
from kombat.pose import FramePose, PoseModelError, model_path
from kombat.recordings import END_TOLERANCE_S, IMAGE_SUFFIXES, group_of, read_annotations, read_image
from kombat.schema import DataFormat, KombatConfig
from kombat.storage import Dataset, atomic_dir, write_dataset, write_json
from kombat.tasks import LABELS
from kombat.video import TIME_EPS, VideoError, VideoReader, at_ticks, last_shown
from kombat.workers import in_threads

COUNT_SLACK_FRAMES, COUNT_SLACK_SHARE = 3, 0.01  # see count_slack
# A tick whose frame was taken longer ago than this shows a stalled camera or a clock that jumped, not the
# moment it is labelled with: context, never a target (2 frames at 5 fps, 15 at 30 fps, is no stall)
STALL_S = 0.5


class Skips:
    """Bad frames skipped, per file, with the reason; strict mode raises at the first one."""

    def __init__(self, strict: bool) -> None:
        self.strict, self.files = strict, {}
        self.clipped: dict[str, int] = {}  # video -> labelled ticks past its stream's end (not damage)
        self.between_ticks: dict[str, int] = {}  # video -> frames no tick showed (an uneven frame rate)
        self.gaps: dict[str, dict] = {}  # file -> labelled ticks in a gap with no frame (a stall), and the longest

    def add(self, path: Path, frames: int, reason: str) -> None:
        if frames <= 0:
            return
        if self.strict:
            raise DataError(f"{path}: {reason} (extract.strict is true; false skips and counts such frames)")
        entry = self.files.setdefault(str(path), {"frames": 0, "reason": reason})
        entry["frames"] += frames
        if reason not in entry["reason"].split("; "):
            entry["reason"] += f"; {reason}"

    def merge(self, other: Skips) -> None:
        """Another file's skips (one video read on its own) into these."""
        self.files.update(other.files)
        self.clipped.update(other.clipped)
        self.between_ticks.update(other.between_ticks)
        self.gaps.update(other.gaps)

    @property
    def total(self) -> int:
        return sum(entry["frames"] for entry in self.files.values())


def count_slack(n_frames: int) -> int:
    """How many frames a container's count may overstate its stream by: it is an estimate (AVI and
    many webcam MP4s promise a frame or two more than they hold), so a stream that ends this close
    to the promised count is whole. One that ends earlier lost its tail (truncated or damaged)."""
    return max(COUNT_SLACK_FRAMES, math.ceil(COUNT_SLACK_SHARE * n_frames))


def refuse_late_segments(path: Path, segments: pd.DataFrame, length: float) -> None:
    """A segment ending after the video (beyond the end tolerance) is a mistake in the annotations."""
    late = segments[segments["end"] > length + END_TOLERANCE_S]
    if len(late):
        raise DataError(f"{path}: segment {late.start.iloc[0]}..{late.end.iloc[0]} s ends after the video "
                        f"({length:.2f} s)")


RATE_SLACK = 0.05  # frames per tick a stated frame rate may exceed a whole number by (29.97, 30.03 fps: 3)


def phases_of(video_fps: float, cfg: KombatConfig) -> int:
    """How many tick streams a video gives (`extract.every_frame`): enough for every recorded frame to be a
    tick of one of them, each stream offset from the last by 1 / (phases x extract.fps). 3 for a 30 fps
    video at 10 fps ticks (a frame apart), and 3 for 25 fps too: 2 streams, 20 ticks a second, would leave
    one frame in five unseen, so 5 frames a second are ticks of two streams instead. 1 when off or when
    the container states no frame rate. A frame that still falls between ticks (an uneven frame rate) is
    counted (`between_ticks`)."""
    if not cfg.extract.every_frame or video_fps <= 0:
        return 1
    return max(1, math.ceil(video_fps / cfg.extract.fps - RATE_SLACK))


class ModelFrameAndPose:
    """A decoded BGR frame -> (its model frame, its landmarks in the model frame's pixels): picklable, so the
    video decoder's child process runs it on every frame in time order (the tracker sees the whole video).
    Here the tracker follows the person from one recorded frame to the next (33 ms at 30 fps), while play
    tracks from tick to tick (100 ms): it finds the person as often, about half a tick's move away (docs/pose.md)."""

    def __init__(self, width: int, height: int, pose: FramePose) -> None:
        self.width, self.height, self.pose = width, height, pose

    def __call__(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return to_model_frame(frame_bgr, self.width, self.height), self.pose(frame_bgr)


def frame_pose(cfg: KombatConfig) -> FramePose | None:
    """The landmark finder when the config embeds pose (its models checked now: one line if missing or
    changed), else None."""
    if not cfg.embed.needs_pose:
        return None
    try:
        for name in ("detector", "landmarks"):
            model_path(Path(cfg.pose.models_dir), name)
    except PoseModelError as exc:
        raise DataError(f"{exc} (pose.models_dir; embed.input or embed.candidate_inputs names pose)") from None
    # One LiteRT thread a decoder: extract already reads a video per core (in_threads).
    return FramePose(cfg.pose.models_dir, cfg.pose.people, (cfg.extract.width, cfg.extract.height), threads=1)


def read_video_frames(path: Path, segments: pd.DataFrame, cfg: KombatConfig,
                      skips: Skips) -> tuple[list[np.ndarray], list[dict], int, int]:
    """The frame shown at each tick (extract.fps) of one video, up to the last one inside a segment, with
    its tick, its own timestamp and label ('' outside every segment); how many labelled frames were
    clipped because the stream ends (within the container's estimate) before the segments do; and how
    many recorded frames before the last segment's end no tick showed (`phases_of`: none at a steady rate).

    With several phases (phases_of), phase p's tick k is at k / fps + p / (phases x fps): the rows come
    phase by phase, each phase in tick order (a clip of its own for motion and windows of ticks)."""
    last_end = float(segments["end"].max())
    times: list[float] = []  # every frame's time, as decoded
    try:
        pose = frame_pose(cfg)
        shrink = (partial(to_model_frame, width=cfg.extract.width, height=cfg.extract.height) if pose is None
                  else ModelFrameAndPose(cfg.extract.width, cfg.extract.height, pose))
        with VideoReader(path, shrink) as video:
            promised = video.info.duration
            if promised:
                refuse_late_segments(path, segments, promised)
            phases = phases_of(video.info.fps, cfg)
            step = 1 / (cfg.extract.fps * phases)  # between the ticks of all phases together

            def until_the_last_segment():
                for t, frame in video:
                    times.append(t)
                    yield t, frame
                    if t >= last_end:
                        return  # no later tick can be labelled
            ticks = list(at_ticks(until_the_last_segment(), step))
            out_of_order = video.dropped
    except VideoError as exc:
        raise DataError(str(exc)) from None
    if not times:
        raise DataError(f"{path}: has no frames")
    by_phase: list[tuple[list, list]] = [([], []) for _ in range(phases)]
    undecodable = 0
    stale = [i for i, (fine_tick, t, frame) in enumerate(ticks) if frame is not None and fine_tick * step - t > STALL_S]
    meant = dict(zip(stale, labels_at(segments, [ticks[i][0] * step for i in stale])))  # the label at the tick
    for i, ((fine_tick, t, frame), label) in enumerate(zip(ticks, labels_at(segments, [t for _, t, _ in ticks]))):
        label = label or ""
        if frame is None:
            undecodable += bool(label)
            continue
        if i in meant:  # a frame from before a gap: kept as context (what play holds too), never a target
            label = ""
            if meant[i]:
                gap = skips.gaps.setdefault(str(path), {"ticks": 0, "longest_s": 0.0})
                gap["ticks"] += 1
                gap["longest_s"] = round(max(gap["longest_s"], fine_tick * step - t), 2)
        frames, rows = by_phase[fine_tick % phases]
        frames.append(frame)
        rows.append({"time": round(t, 4), "tick": fine_tick // phases, "phase": fine_tick % phases, "label": label})
    for frames, rows in by_phase:
        while rows and not rows[-1]["label"]:  # context after the last labelled frame is never used
            rows.pop()
            frames.pop()
    frames = [frame for phase_frames, _ in by_phase for frame in phase_frames]
    rows = [row for _, phase_rows in by_phase for row in phase_rows]
    if not frames:
        raise DataError(f"{path}: no frame could be decoded")
    skips.add(path, undecodable, "frames that cannot be decoded")
    skips.add(path, out_of_order, "frames decoded out of time order (damaged timestamps)")
    shown = {t for _, t, _ in ticks}  # one tick stream (every_frame off, or no stated rate) leaves the rest by choice
    between = sum(1 for t in times if t < last_end and t not in shown) if phases > 1 else 0
    ended = last_shown(times[-1], times[-2] if len(times) > 1 else None, step)
    if times[-1] >= last_end:
        return frames, rows, 0, between
    # The stream ended before the last segment: its labelled ticks from there on have no frame.
    later = [k * step for k in range(len(ticks), math.ceil(last_end / step) + 1) if k * step < last_end]
    beyond = sum(1 for label in labels_at(segments, later) if label)
    if not promised:  # the container does not say how long it is (a browser's WebM): the stream does
        refuse_late_segments(path, segments, ended)
        return frames, rows, beyond, between
    slack_s = count_slack(video.info.frames) * (1 / video.info.fps if video.info.fps else ended - times[-1])
    if ended >= promised - slack_s - TIME_EPS:
        return frames, rows, beyond, between  # whole: segments past the last frame are clipped to it
    skips.add(path, beyond, f"stream ends at {ended:.2f} s of the {promised:.2f} s its container promises "
                            "(truncated or damaged)")
    return frames, rows, 0, between


def extract_videos(raw_dir: Path, cfg: KombatConfig, skips: Skips) -> Dataset:
    """Every annotated video's frames, the videos read side by side (each one's decoder is a process of
    its own, kombat.video), gathered in the annotations' order: the same rows on one core or many."""
    annotations = read_annotations(raw_dir / cfg.data.annotations)

    def read_one(job: tuple[str, pd.DataFrame]) -> tuple[list[np.ndarray], list[dict], Skips]:
        video, segments = job
        own = Skips(skips.strict)
        frames, frame_rows, clipped, between = read_video_frames(raw_dir / video, segments, cfg, own)
        if clipped:
            own.clipped[video] = clipped
        if between:
            own.between_ticks[video] = between
        actor = str(segments["actor"].iloc[0])
        return frames, [{"source": video, "actor": actor, **row} for row in frame_rows], own

    jobs = list(annotations.groupby("video", sort=True))
    missing = [video for video, _ in jobs if not (raw_dir / video).is_file()]
    if missing:  # before any video is decoded, not after the others
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{raw_dir / missing[0]}: video named in the annotations does not exist{more}")
    images, rows = [], []
    for frames, frame_rows, own in tqdm(in_threads(read_one, jobs), total=len(jobs), desc="extract", unit="video"):
        images += frames
        rows += frame_rows
        skips.merge(own)
    return _dataset(images, rows, cfg)


def extract_folders(raw_dir: Path, cfg: KombatConfig, skips: Skips) -> Dataset:
    missing = [label for label in LABELS if not (raw_dir / label).is_dir()]
    if missing:
        raise DataError(f"{raw_dir}: missing class folder(s) {missing}; expected punch/, kick/, other/")
    images, rows = [], []
    paths = sorted(p for label in LABELS for p in (raw_dir / label).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    pose = frame_pose(cfg)
    for path in tqdm(paths, desc="extract", unit="image"):
        frame, problem = read_image(path)
        if problem:
            skips.add(path, 1, problem)
            continue
        relative = path.relative_to(raw_dir)
        small = to_model_frame(frame, cfg.extract.width, cfg.extract.height)
        if pose is not None:
            pose.reset()  # one photograph each: nobody to track from the one before
        images.append(small if pose is None else (small, pose(frame)))
        rows.append({"source": relative.as_posix(), "actor": group_of(relative), "time": 0.0, "tick": 0,
                     "phase": 0, "label": relative.parts[0]})
    return _dataset(images, rows, cfg)


def _dataset(images: list[np.ndarray], rows: list[dict], cfg: KombatConfig) -> Dataset:
    if not any(row["label"] for row in rows):
        raise DataError("no labelled frames were extracted: check the annotations' segments and extract.fps")
    manifest = pd.DataFrame(rows, columns=["source", "actor", "time", "tick", "phase", "label"])
    unit = split_unit(manifest["actor"].tolist(), cfg.split, has_takes=cfg.data.format is DataFormat.videos)
    groups = manifest["actor" if unit == "actor" else "source"]
    manifest["split"] = groups.map(assign_splits(groups.tolist(), cfg.split, unit))
    check_classes(manifest, unit)
    if cfg.embed.needs_pose:  # (model frame, landmarks) pairs
        return Dataset(np.stack([image for image, _ in images]), manifest, np.stack([found for _, found in images]))
    return Dataset(np.stack(images), manifest)


def pose_found(landmarks: np.ndarray) -> int:
    """Frames where BlazePose found at least one person."""
    return int(landmarks[..., 4].any(axis=(1, 2)).sum())


def check_classes(manifest: pd.DataFrame, unit: str = "actor") -> None:
    """Every class in every split: training needs them all, and a test without one scores nothing."""
    for label in LABELS:
        if not (manifest["label"] == label).any():
            raise DataError(f"class {label!r} has no frames after extraction: annotate some {label} segments")
    for split in ("train", "val", "test"):
        rows = manifest[manifest["split"] == split]
        missing = [label for label in LABELS if not (rows["label"] == label).any()]
        if missing:
            groups = sorted(rows["actor" if unit == "actor" else "source"].unique())
            fix = ("" if split == "train" else f": choose other actors with split.{split}_actors, or record more"
                   if unit == "actor" else ": record takes with every class in them (or change split.seed)")
            raise DataError(f"the {split} split ({unit}s {groups}) has no {', '.join(missing)} frames{fix}")


def run(cfg: KombatConfig, raw_dir: Path, out_dir: Path) -> str:
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: raw data folder does not exist (data.raw_dir)")
    skips = Skips(cfg.extract.strict)
    if cfg.data.format is DataFormat.videos:
        dataset = extract_videos(raw_dir, cfg, skips)
    else:
        dataset = extract_folders(raw_dir, cfg, skips)
    counts = {split: class_counts(dataset.manifest, split) for split in ("train", "val", "test")}
    actors = dataset.manifest.groupby("split")["actor"].unique().map(sorted).to_dict()
    unit = split_unit_of(dataset.manifest)
    with atomic_dir(out_dir) as tmp:
        write_dataset(tmp, dataset)
        write_json(tmp / "counts.json", {"counts": counts, "actors": actors, "split_by": unit,
                                         "validation": VALIDATION_MEANS[unit], "skipped": skips.files,
                                         "clipped": skips.clipped, "between_ticks": skips.between_ticks,
                                         "gaps": skips.gaps,
                                         **({"pose": {"frames": len(dataset.landmarks),
                                                      "found": pose_found(dataset.landmarks)}}
                                            if dataset.landmarks is not None else {})})
    per_split = "; ".join(f"{split} {sum(c.values())} ({', '.join(f'{k} {v}' for k, v in c.items())})"
                          for split, c in counts.items())
    skipped = (f"; skipped {skips.total} bad frame(s) in {len(skips.files)} file(s), listed in "
               f"{out_dir / 'counts.json'}" if skips.total else "")
    if skips.clipped:
        skipped += (f"; {len(skips.clipped)} video(s) end a few frames before their container's count: segments "
                    f"clipped to the last frame")
    if skips.between_ticks:
        skipped += (f"; {sum(skips.between_ticks.values())} recorded frame(s) of {len(skips.between_ticks)} video(s) "
                    f"fell between ticks (an uneven frame rate), listed in {out_dir / 'counts.json'}")
    if skips.gaps:
        longest = max(gap["longest_s"] for gap in skips.gaps.values())
        skipped += (f"; {sum(gap['ticks'] for gap in skips.gaps.values())} labelled tick(s) of {len(skips.gaps)} "
                    f"video(s) fell in a gap with no frame (up to {longest:.1f} s: a stalled camera or a clock that "
                    f"jumped), kept as context but not as targets, listed in {out_dir / 'counts.json'}")
    if dataset.landmarks is not None:
        found = pose_found(dataset.landmarks)
        skipped += (f"; pose: nobody found in {len(dataset.landmarks) - found} of {len(dataset.landmarks)} frames "
                    f"(their pose input is zeros)")
    n_context = int((dataset.manifest["label"] == "").sum())
    return (f"{len(dataset.images)} frames {cfg.extract.width}x{cfg.extract.height} ({n_context} unlabelled, kept as "
            f"context); labelled: {per_split}; split by {unit}: {VALIDATION_MEANS[unit]}{skipped}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("extract", __doc__, run, {"raw_dir": "raw data folder", "out_dir": "frames dataset folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
