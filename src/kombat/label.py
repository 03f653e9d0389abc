"""Label: review and fix the segments of one video, or label a video filmed elsewhere from scratch.

    python -m kombat.label data/raw/videos/alice_20261125-101500_take1.mp4
    python -m kombat.label clip.avi --annotations data/raw/annotations.csv --actor bob

The video plays with its segments drawn as a timeline. Keys:
  space play/pause      , .  or Left Right: one frame      j l: one second
  Tab: next segment (the playhead jumps to it)        p k o: label the selected segment punch/kick/other;
  with the playhead outside every segment, p k o start a new one there (0.5 s)
  [ ]: the selected segment starts / ends at the playhead      x or Delete: delete it
  s: save (checked by the parser extract uses: known labels, no overlaps, inside the video)
  q or Esc: quit (press twice to drop unsaved changes)
The video's key in the CSV is its path relative to the CSV's folder (videos/NAME.mp4).
"""

from __future__ import annotations

import argparse
import bisect
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from kombat import screen
from kombat.cli import tool_main
from kombat.data import SEGMENT_EPS
from kombat.errors import DataError, KombatError
from kombat.recordings import (ANNOTATION_COLUMNS, END_TOLERANCE_S, parse_annotations, read_annotations,
                               write_annotations)
from kombat.video import TIME_EPS, VideoError, VideoReader, last_shown

NEW_SEGMENT_S = 0.5
LABEL_KEYS = {ord("p"): "punch", ord("k"): "kick", ord("o"): "other"}


def start_ms(t: float) -> float:
    """A segment's start at the playhead's frame, in whole milliseconds and never after it: rounded up (frame 2
    of 30 fps at 0.0667 s to 0.067), the segment would begin after the frame it was started on."""
    return math.floor(t * 1000 + 1e-6) / 1000


@dataclass
class Editor:
    """The segments of one video and the selection: pure editing, no window, no files."""

    duration: float
    segments: list[list] = field(default_factory=list)  # [start, end, label], kept sorted by start
    selected: int | None = None
    dirty: bool = False

    def at(self, t: float) -> int | None:
        return next((i for i, (start, end, _) in enumerate(self.segments) if start <= t < end), None)

    def follow(self, t: float) -> None:
        """The playhead entering a segment selects it."""
        hit = self.at(t)
        if hit is not None:
            self.selected = hit

    def next(self) -> float | None:
        """Select the next segment; returns its start (where the playhead goes)."""
        if not self.segments:
            return None
        self.selected = 0 if self.selected is None else (self.selected + 1) % len(self.segments)
        return self.segments[self.selected][0]

    def label(self, t: float, label: str) -> str:
        """Relabel the segment under the playhead, or start a new one at t."""
        hit = self.at(t)
        if hit is None:
            end = min(t + NEW_SEGMENT_S, self.duration)
            following = [start for start, _, _ in self.segments if start > t]
            end = min([end, *following])
            if end <= t:
                return "no room for a segment here"
            self.segments.append([start_ms(t), round(end, 3), label])
            self._sort(select=self.segments[-1])
            return f"new {label} segment at {t:.2f} s"
        self.segments[hit][2], self.selected, self.dirty = label, hit, True
        return f"segment {hit + 1} is {label}"

    def set_start(self, t: float) -> str:
        return self._set(0, t)

    def set_end(self, t: float) -> str:
        return self._set(1, t)

    def _set(self, which: int, t: float) -> str:
        if self.selected is None:
            return "select a segment first (Tab, or move the playhead into one)"
        segment = self.segments[self.selected]
        new = [*segment]
        new[which] = start_ms(t) if which == 0 else round(t, 3)
        if new[1] <= new[0]:
            return "a segment must end after it starts"
        segment[:] = new
        self._sort(select=segment)
        return f"segment {self.selected + 1}: {segment[0]:.2f}..{segment[1]:.2f} s"

    def delete(self) -> str:
        if self.selected is None:
            return "select a segment first (Tab, or move the playhead into one)"
        start, end, label = self.segments.pop(self.selected)
        self.selected, self.dirty = None, True
        return f"deleted {label} {start:.2f}..{end:.2f} s"

    def _sort(self, select: list) -> None:
        self.segments.sort(key=lambda s: (s[0], s[1]))
        self.selected = next(i for i, s in enumerate(self.segments) if s is select)
        self.dirty = True


def annotations_for(video: Path, annotations: Path | None) -> tuple[Path, str]:
    """The CSV (given, or the one in the folder above videos/) and the video's key in it."""
    video = video.resolve()
    csv_path = (annotations or video.parent.parent / "annotations.csv").resolve()
    try:
        key = video.relative_to(csv_path.parent).as_posix()
    except ValueError:
        raise DataError(f"{video}: not under {csv_path.parent}, the annotations' folder (its rows name videos "
                        "relative to it)") from None
    return csv_path, key


def table_with(others: pd.DataFrame, key: str, actor: str, segments: list[list]) -> pd.DataFrame:
    rows = [{"video": key, "start": s, "end": e, "label": lab, "actor": actor} for s, e, lab in segments]
    return pd.concat([others, pd.DataFrame(rows, columns=[*ANNOTATION_COLUMNS, "actor"])], ignore_index=True)


def check_inside(segments: list[list], duration: float, video: Path) -> None:
    for start, end, label in segments:
        if end > duration + END_TOLERANCE_S:
            raise DataError(f"{video}: segment {start}..{end} s ({label}) ends after the video ({duration:.2f} s)")


def preview(frame_bgr: np.ndarray) -> bytes:
    """A frame as the labeller keeps it: window-wide JPEG (a 35 s take at 30 fps is ~40 MB, not ~700 MB raw)."""
    return cv2.imencode(".jpg", screen.fit(frame_bgr), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


class Video:
    """A video's frames and their timestamps, decoded once by FFmpeg in a worker process (kombat.video), so the
    playhead shows the time each frame really has, as extract will label it."""

    def __init__(self, path: Path) -> None:
        try:
            with VideoReader(path, preview) as reader:
                decoded = [(t, jpeg) for t, jpeg in reader if jpeg is not None]
                promised, self.dropped = reader.info.duration, reader.dropped
        except VideoError as exc:
            raise DataError(str(exc)) from None
        if not decoded:
            raise DataError(f"{path}: no frame can be decoded")
        self.path = path
        self.times = [t for t, _ in decoded]
        self._jpegs = [jpeg for _, jpeg in decoded]
        # Segments may reach the container's promise (extract clips them to the last frame), or the stream's end.
        ended = last_shown(self.times[-1], self.times[-2] if len(self.times) > 1 else None, 1 / 30)
        self.duration = max(promised, ended)

    @property
    def n_frames(self) -> int:
        return len(self.times)

    def frame(self, index: int) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(self._jpegs[index], np.uint8), cv2.IMREAD_COLOR)

    def index_at(self, t: float) -> int:
        """The frame shown at time t."""
        return min(max(bisect.bisect_right(self.times, t + TIME_EPS) - 1, 0), self.n_frames - 1)

    def first_from(self, t: float) -> int:
        """The first frame at or after time t (where a segment starting at t begins)."""
        return min(bisect.bisect_left(self.times, t - SEGMENT_EPS), self.n_frames - 1)

    def shown_for(self, index: int) -> float:
        return self.times[index + 1] - self.times[index] if index + 1 < self.n_frames else 1 / 30


def render(frame: np.ndarray, editor: Editor, t: float, index: int, n_frames: int, playing: bool,
           message: str) -> np.ndarray:
    """The labeller's window: the frame, the label under the playhead, the timeline and the status."""
    hit = editor.at(t)
    label = editor.segments[hit][2] if hit is not None else None
    picture = screen.banner(screen.fit(frame), label or "(no label)", label, scale=1.0)
    bar = screen.timeline(picture.shape[1], editor.duration, [tuple(s) for s in editor.segments], t, editor.selected)
    status = np.zeros((84, picture.shape[1], 3), np.uint8)
    selected = (f"selected {editor.selected + 1}/{len(editor.segments)}: {editor.segments[editor.selected][2]} "
                f"{editor.segments[editor.selected][0]:.2f}..{editor.segments[editor.selected][1]:.2f} s"
                if editor.selected is not None else f"{len(editor.segments)} segments")
    screen.put_text(status, f"{t:6.2f} s  frame {index + 1}/{n_frames}  {'playing' if playing else 'paused'}   "
                            f"{selected}{'   (unsaved)' if editor.dirty else ''}", (10, 22), 0.5)
    screen.put_text(status, "space play  , . frame  j l second  Tab next  p k o label/new  [ ] start/end  "
                            "x delete  s save  q quit", (10, 48), 0.42, (200, 200, 200))
    screen.put_text(status, message, (10, 74), 0.5, (0, 255, 255))
    return screen.stack(picture, bar, status)


class Labeller:
    def __init__(self, video: Video, csv_path: Path, key: str, actor: str | None) -> None:
        self.video, self.csv_path, self.key = video, csv_path, key
        table = read_annotations(csv_path) if csv_path.is_file() else pd.DataFrame(columns=[*ANNOTATION_COLUMNS, "actor"])
        mine = table["video"] == key
        self.others = table[~mine][[*ANNOTATION_COLUMNS, "actor"]].reset_index(drop=True)
        own = table[mine].sort_values("start")
        self.actor = actor or (str(own["actor"].iloc[0]) if len(own) else video.path.stem.split("_")[0])
        self.editor = Editor(video.duration, [[float(r.start), float(r.end), str(r.label)] for r in own.itertuples()])

    def save(self) -> str:
        table = table_with(self.others, self.key, self.actor, self.editor.segments)
        check_inside(self.editor.segments, self.video.duration, self.video.path)
        parse_annotations(table, str(self.csv_path))
        write_annotations(self.csv_path, table)
        self.editor.dirty = False
        return f"saved {len(self.editor.segments)} segments of {self.key} to {self.csv_path}"

    def run(self) -> str:
        damaged = f" ({self.video.dropped} frames out of time order, not shown)" if self.video.dropped else ""
        message = f"{self.key}: {len(self.editor.segments)} segments{damaged}"
        index, playing, quit_armed = 0, False, False
        screen.open_window("kombat label")
        while True:
            frame = self.video.frame(index)
            t = self.video.times[index]
            self.editor.follow(t)
            cv2.imshow("kombat label", render(frame, self.editor, t, index, self.video.n_frames, playing, message))
            key = cv2.waitKeyEx(max(1, int(1000 * self.video.shown_for(index))) if playing else 40)
            if playing:
                index = min(index + 1, self.video.n_frames - 1)
                playing = index < self.video.n_frames - 1
            if key == -1:
                continue
            if key in (ord("q"), screen.KEY_ESC):
                if self.editor.dirty and not quit_armed:
                    message, quit_armed = "unsaved changes: s saves, q again quits without saving", True
                    continue
                break
            quit_armed = False
            step = {ord(","): -1, screen.KEY_LEFT: -1, ord("."): 1, screen.KEY_RIGHT: 1}.get(key)
            seconds = {ord("j"): -1.0, ord("l"): 1.0}.get(key)
            if step is not None:
                index, playing = min(max(index + step, 0), self.video.n_frames - 1), False
            elif seconds is not None:
                index, playing = self.video.index_at(t + seconds), False
            elif key == ord(" "):
                playing = not playing
            elif key == screen.KEY_TAB:
                start = self.editor.next()
                if start is not None:
                    index = self.video.first_from(start)
                    message = f"segment {self.editor.selected + 1} of {len(self.editor.segments)}"
            elif key in LABEL_KEYS:
                message = self.editor.label(t, LABEL_KEYS[key])
            elif key == ord("["):
                message = self.editor.set_start(t)
            elif key == ord("]"):
                message = self.editor.set_end(t)
            elif key in (ord("x"), screen.KEY_DELETE):
                message = self.editor.delete()
            elif key == ord("s"):
                try:
                    message = self.save()
                except KombatError as exc:
                    message = f"not saved: {exc}"
                print(message, flush=True)
        cv2.destroyAllWindows()
        return f"{self.key}: {len(self.editor.segments)} segments{' (unsaved changes dropped)' if self.editor.dirty else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kombat.label", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", type=Path, help="the video to label (under the annotations' folder)")
    parser.add_argument("--annotations", type=Path, help="the CSV (default: annotations.csv in the folder above the video's)")
    parser.add_argument("--actor", help="actor of new segments (default: the video's rows, else its name up to '_')")
    args = parser.parse_args(argv)

    def label() -> str:
        csv_path, key = annotations_for(args.video, args.annotations)
        return Labeller(Video(args.video), csv_path, key, args.actor).run()

    return tool_main("label", label)


if __name__ == "__main__":
    raise SystemExit(main())
