"""Record: a guided recorder for your own moves. It shows the camera with prompts ("get ready",
3-2-1, "PUNCH!", "KICK!", "move freely"), writes one MP4 per take into <raw-dir>/videos/ and
appends the take's segments, timed from the prompts, to <raw-dir>/annotations.csv.

    python -m kombat.record --actor alice              # webcam 0, the plan in params.yaml's `record`
    python -m kombat.record --actor bob --source clip.mp4   # a video stands in for the camera

Space pauses (the take's clock stops), q or Esc ends; the take under way is then discarded. A take
is kept whole or not at all: its video is written to a temporary file and renamed into place,
then its rows are appended atomically, so an interruption leaves no half video and no orphan row.
Prompt times are proposals (people punch late): review them with `python -m kombat.label`.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kombat import schema, screen  # first: it quiets OpenCV's camera log
from kombat.cli import tool_main

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from kombat.compose import default_config
from kombat.errors import DataError
from kombat.recordings import Segment, append_annotations, mp4_writer, read_annotations
from kombat.schema import RecordConfig

ANNOTATIONS_FILE = "annotations.csv"


@dataclass(frozen=True)
class Prompt:
    start: float  # seconds from the start of the take
    end: float
    text: str
    label: str | None  # the class it asks for; None: not labelled (get ready)


def plan_take(plan: RecordConfig, take: int) -> list[Prompt]:
    """The prompts of take `take` (0-based): a countdown, then the strikes and free stretches in an
    order drawn from `plan.seed + take`, each strike followed by a guard."""
    rng = random.Random(plan.seed + take)
    moves = ["punch"] * plan.punches + ["kick"] * plan.kicks + ["other"] * plan.free_moves
    rng.shuffle(moves)
    prompts = [Prompt(0.0, plan.countdown_s, "get ready", None)] if plan.countdown_s > 0 else []
    t = plan.countdown_s
    for move in moves:
        if move == "other":
            hints = rng.sample(list(plan.hints), min(2, len(plan.hints)))
            prompts.append(Prompt(t, t + plan.free_s, "move freely: " + ", ".join(hints), "other"))
            t += plan.free_s
            continue
        prompts.append(Prompt(t, t + plan.strike_s, f"{move.upper()}!", move))
        t += plan.strike_s
        if plan.guard_s > 0:
            prompts.append(Prompt(t, t + plan.guard_s, "guard", "other"))
            t += plan.guard_s
    return prompts


def segments_of(prompts: list[Prompt], margin: float) -> list[Segment]:
    """The labelled segments a take's prompts propose: each labelled prompt less `margin` at both ends."""
    segments = []
    for prompt in prompts:
        start, end = round(prompt.start + margin, 3), round(prompt.end - margin, 3)
        if prompt.label and end > start:
            segments.append(Segment(start, end, prompt.label))
    return segments


def prompt_at(prompts: list[Prompt], t: float) -> Prompt | None:
    return next((p for p in prompts if p.start <= t < p.end), None)


def overlay(frame_bgr: np.ndarray, prompts: list[Prompt], t: float, take: int, takes: int, paused: bool) -> np.ndarray:
    """The recorder's window: the picture, the prompt in a band of its label's colour, the take's progress."""
    prompt = prompt_at(prompts, t)
    text, label = (prompt.text, prompt.label) if prompt else ("done", None)
    if prompt and prompt.label is None:  # the countdown: "get ready", then 3, 2, 1
        left = prompt.end - t
        text = "get ready" if left > 3 else str(int(np.ceil(left)))
    image = screen.banner(screen.fit(frame_bgr), "PAUSED (space resumes)" if paused else text, label)
    length = prompts[-1].end
    bar = screen.timeline(image.shape[1], length, [(p.start, p.end, p.label) for p in prompts if p.label], t, height=30)
    following = next((p for p in prompts if p.start > t), None)
    coming = f"next: {following.text} in {following.start - t:.1f} s" if following else "last prompt"
    status = np.zeros((34, image.shape[1], 3), np.uint8)
    screen.put_text(status, f"take {take + 1}/{takes}   {t:5.1f} / {length:.1f} s   {coming}   space: pause   q/Esc: end",
                    (10, 23), 0.5)
    return screen.stack(image, bar, status)


class Stop(Exception):
    """The user ended the session (q, Esc)."""


class SourceEnded(Exception):
    """The video standing in for the camera has no more frames."""


def open_source(source: str) -> tuple[cv2.VideoCapture, bool]:
    """A camera index or a video file, opened; (capture, is_file). One-line DataError otherwise."""
    is_file = not source.isdigit()
    if is_file and not Path(source).is_file():
        raise DataError(f"{source}: no such video file")
    capture = cv2.VideoCapture(source if is_file else int(source))
    if not capture.isOpened():
        capture.release()
        raise DataError(f"{source}: cannot be opened as a video" if is_file else
                        f"camera {source}: cannot be opened (no camera, or it is busy)")
    return capture, is_file


def free_video_name(videos_dir: Path, actor: str, take: int) -> Path:
    """A new file name for a take; an existing recording is never overwritten."""
    stem = f"{actor}_{time.strftime('%Y%m%d-%H%M%S')}_take{take + 1}"
    path, n = videos_dir / f"{stem}.mp4", 2
    while path.exists():
        path, n = videos_dir / f"{stem}-{n}.mp4", n + 1
    return path


class Recorder:
    """One session: takes recorded from `capture` and shown in a window (or not, with show=False)."""

    def __init__(self, capture: cv2.VideoCapture, is_file: bool, plan: RecordConfig, raw_dir: Path, actor: str,
                 show: bool, capture_name: str = "camera") -> None:
        self.capture_name = capture_name
        self.capture, self.is_file, self.plan, self.actor, self.show = capture, is_file, plan, actor, show
        self.raw_dir, self.videos_dir = raw_dir, raw_dir / "videos"
        source_fps = capture.get(cv2.CAP_PROP_FPS)
        # A file's own frames and times are kept; a camera's frames are repeated or dropped to plan.fps.
        self.fps = source_fps if is_file and source_fps and source_fps > 0 else plan.fps
        self.saved: list[tuple[Path, list[Segment]]] = []

    def run(self) -> str:
        discarded, why = "", ""
        if self.show:
            screen.open_window("kombat record")
        try:
            for take in range(self.plan.takes):
                self.saved.append(self.record_take(take))
        except (Stop, KeyboardInterrupt, SourceEnded) as stop:
            if len(self.saved) < self.plan.takes:
                why = "the source ended" if isinstance(stop, SourceEnded) else "ended by the user"
                discarded = f"; take {len(self.saved) + 1} was not finished ({why}) and was discarded"
        finally:
            if self.show:
                cv2.destroyAllWindows()
        if not self.saved:
            raise DataError(f"{self.capture_name}: no take was finished ({why}): nothing was recorded "
                            f"(a take lasts {plan_take(self.plan, 0)[-1].end:.1f} s)")
        counts: dict[str, int] = {}
        for _, segments in self.saved:
            for segment in segments:
                counts[segment.label] = counts.get(segment.label, 0) + 1
        names = ", ".join(str(path) for path, _ in self.saved)
        return (f"recorded {len(self.saved)} take(s) of {self.actor}: {names}; {sum(counts.values())} segments "
                f"appended to {self.raw_dir / ANNOTATIONS_FILE} ({', '.join(f'{k} {v}' for k, v in counts.items())})"
                f"{discarded}. Review them: python -m kombat.label {self.saved[0][0]}")

    def record_take(self, take: int) -> tuple[Path, list[Segment]]:
        prompts = plan_take(self.plan, take)
        length = prompts[-1].end
        final = free_video_name(self.videos_dir, self.actor, take)
        partial = final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:8]}.mp4")
        writer = None
        clock, written, read, paused = 0.0, 0, 0, False
        started = last = time.monotonic()
        try:
            while clock < length - 1e-9:
                ok, frame = self.capture.read()
                if not ok or frame is None:
                    raise SourceEnded
                read += 1
                now = time.monotonic()
                if self.is_file:  # a file plays at its own pace, as a camera would deliver it
                    time.sleep(max(0.0, started + read / self.fps - now))
                    step = 1.0 / self.fps
                else:
                    step = now - last
                last = now
                if not paused:
                    if writer is None:
                        writer = self.open_writer(partial, frame)
                    clock += step
                    due = max(0, round(clock * self.fps) - written)
                    for _ in range(due):
                        writer.write(frame)
                    written += due
                    if self.is_file:
                        clock = written / self.fps  # exact: no drift from adding 1/fps
                if self.show:
                    shown = cv2.flip(frame, 1) if not self.is_file else frame  # a camera is shown as a mirror
                    cv2.imshow("kombat record", overlay(shown, prompts, clock, take, self.plan.takes, paused))
                    key = cv2.waitKeyEx(1)
                    if key in (ord("q"), screen.KEY_ESC):
                        raise Stop
                    if key == ord(" "):
                        paused = not paused
            writer.release()
            writer = None
            os.replace(partial, final)
        finally:
            if writer is not None:
                writer.release()
            partial.unlink(missing_ok=True)
        segments = segments_of(prompts, self.plan.margin_s)
        video = final.relative_to(self.raw_dir).as_posix()
        try:
            append_annotations(self.raw_dir / ANNOTATIONS_FILE, [
                {"video": video, "start": s.start, "end": s.end, "label": s.label, "actor": self.actor}
                for s in segments])
        except BaseException:
            final.unlink(missing_ok=True)  # no rows, no video: the take is gone whole
            raise
        return final, segments

    def open_writer(self, path: Path, frame: np.ndarray) -> cv2.VideoWriter:
        return mp4_writer(path, self.fps, frame.shape[1], frame.shape[0])


def check_writable(raw_dir: Path) -> None:
    """Fail before the user performs, not after: the folder must take a file, the CSV must parse."""
    videos_dir = raw_dir / "videos"
    try:
        videos_dir.mkdir(parents=True, exist_ok=True)
        probe = videos_dir / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataError(f"{videos_dir}: cannot write recordings there ({exc.strerror or exc})") from None
    if (raw_dir / ANNOTATIONS_FILE).is_file():
        read_annotations(raw_dir / ANNOTATIONS_FILE)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kombat.record", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actor", required=True, help="who is recorded: letters, digits, '-' and '_' (the split is by actor)")
    parser.add_argument("--source", default="0", help="camera index (default 0) or a video file standing in for it")
    parser.add_argument("--raw-dir", type=Path, default=Path("data/raw"), help="where videos/ and annotations.csv go (data=videos)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="config with the `record` plan")
    parser.add_argument("--takes", type=int, help="override record.takes")
    parser.add_argument("--no-show", dest="show", action="store_false", help="no window (and so no keys): record the plan blind")
    return parser.parse_args(argv)


def load_plan(params_path: Path) -> RecordConfig:
    """The `record:` section of a params file (params.yaml, or a file of your own with only that section)
    over conf/'s; conf/'s alone when the file does not exist."""
    composed = schema.to_dict(default_config())
    if params_path.is_file():
        composed["record"].update(schema.read_sections(params_path).get("record") or {})
    return schema.validate(composed, source=str(params_path)).record


def record(args: argparse.Namespace) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.actor):
        raise DataError(f"--actor {args.actor!r}: use letters, digits, '-' and '_' only")
    plan = load_plan(args.params)
    if args.takes is not None:
        if args.takes <= 0:
            raise DataError(f"--takes must be > 0, got {args.takes}")
        plan = RecordConfig(**{**plan.__dict__, "takes": args.takes})
    check_writable(args.raw_dir)
    if args.show:
        screen.require_display("the recorder's window", ", or pass --no-show")
    capture, is_file = open_source(args.source)
    try:
        return Recorder(capture, is_file, plan, args.raw_dir, args.actor, args.show,
                        args.source if is_file else f"camera {args.source}").run()
    finally:
        capture.release()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return tool_main("record", lambda: record(args))


if __name__ == "__main__":
    raise SystemExit(main())
