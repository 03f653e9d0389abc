"""The raw recordings formats, read and written: videos plus annotations.csv of labelled segments,
or the article's class folders of images.

One home for them: extract parses what users bring, the synth stage and the play-test write it,
and the recorder and labeller write the same rows through `write_annotations`. Video files are
decoded by kombat.video (shared with play.py, which must not import kombat).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pandas as pd

from kombat.errors import DataError
from kombat.storage import atomic_write_text
from kombat.tasks import LABELS


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}  # the folders format's images


@dataclass(frozen=True)
class Segment:
    start: float  # seconds, inclusive
    end: float  # seconds, exclusive
    label: str


ANNOTATION_COLUMNS = ("video", "start", "end", "label")
# A segment may end this far past a video's promised duration (a container's duration is an estimate);
# extract clips it to the last frame, and the labeller saves it.
END_TOLERANCE_S = 0.5


SEPARATOR_HINTS = {";": " (its columns are separated by ';': save it with ',' between columns and '.' in numbers)",
                   "\t": " (its columns are separated by tabs: save it as CSV, with ',' between columns)"}


def parse_annotations(table: pd.DataFrame, source: str, lines: list[int] | None = None) -> pd.DataFrame:
    """Validate an annotations table: video, start, end (seconds), label[, actor].

    Without an actor column each video is its own group, so the split is by video. Column names and cells
    are read without the spaces around them, labels in any case, and a video's path as the file it names
    (videos/./a.mp4 and videos/x/../a.mp4 are videos/a.mp4). `lines`: each row's line in the file (default: row i
    on line i + 2, after the header). Raises DataError naming `source`, the row and what is wrong.
    """
    table = table.rename(columns=lambda name: str(name).strip())
    spare = [c for c in table.columns if c.startswith("Unnamed:") and table[c].isna().all()]
    table = table.drop(columns=spare)  # a spreadsheet's trailing comma: a column with no name and nothing in it
    missing = [c for c in ANNOTATION_COLUMNS if c not in table.columns]
    if missing:
        header = str(table.columns[0]) if len(table.columns) == 1 else ""
        hint = next((text for separator, text in SEPARATOR_HINTS.items() if separator in header), "")
        raise DataError(f"{source}: missing column(s) {missing}; expected video,start,end,label[,actor]{hint}")
    unknown = [c for c in table.columns if c not in (*ANNOTATION_COLUMNS, "actor")]
    if unknown:
        raise DataError(f"{source}: unknown column(s) {unknown}; expected video,start,end,label[,actor]")
    if table.empty:
        raise DataError(f"{source}: no segments")
    rows = table.reset_index(drop=True)
    line = list(lines) if lines is not None else [i + 2 for i in range(len(rows))]
    for column in ("start", "end"):
        values = pd.to_numeric(rows[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = rows[column].iloc[row]
            given = "is empty" if pd.isna(value) or not str(value).strip() else f"{str(value)!r} is not a number of seconds"
            raise DataError(f"{source}: row {line[row]}: {column} {given}")
        rows[column] = values.astype(float)
    rows["label"] = rows["label"].astype(str).str.strip().str.lower()
    rows["video"] = [posixpath.normpath(video) if video else ""
                     for video in rows["video"].fillna("").astype(str).str.strip()]
    for i, row in enumerate(rows.itertuples(index=False)):
        where = f"{source}: row {line[i]}"
        if row.label not in LABELS:
            raise DataError(f"{where}: unknown label {row.label!r}; use one of {list(LABELS)}")
        if not row.video:
            raise DataError(f"{where}: empty video path")
        if row.start < 0 or row.end <= row.start:
            raise DataError(f"{where}: segment {row.start}..{row.end} s is empty or negative")
    if "actor" not in rows.columns:
        rows["actor"] = rows["video"].map(lambda v: PurePosixPath(v).stem)
    actors = rows["actor"].fillna("").astype(str).str.strip()
    if (actors == "").any():
        row = int(np.flatnonzero(actors == "")[0])
        raise DataError(f"{source}: row {line[row]}: actor is empty (name who is filmed, or leave the actor column "
                        "out to split by video)")
    rows["actor"] = actors
    for video, group in rows.groupby("video", sort=False):
        if group["actor"].nunique() > 1:
            a, b = group.drop_duplicates("actor").index[:2]
            raise DataError(f"{source}: rows {line[a]} and {line[b]}: {video} is filmed of actor {rows.actor[a]!r} "
                            f"and of {rows.actor[b]!r}: one video, one actor")
    for video, group in rows.sort_values("start").groupby("video"):
        ends = group["end"].to_numpy()[:-1]
        starts = group["start"].to_numpy()[1:]
        overlap = np.flatnonzero(starts < ends - 1e-9)
        if overlap.size:
            a, b = group.iloc[overlap[0]], group.iloc[overlap[0] + 1]
            raise DataError(f"{source}: rows {line[a.name]} and {line[b.name]}: segments {a.start}..{a.end} and "
                            f"{b.start}..{b.end} of {video} overlap")
    return rows.reset_index(drop=True)


def read_annotations(csv_path: Path) -> pd.DataFrame:
    """Read and validate an annotations.csv (see parse_annotations); one-line DataError otherwise."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: annotations not found (expected video,start,end,label[,actor])")
    try:
        with csv_path.open(encoding="utf-8-sig") as text:  # empty lines before the header are passed over
            before_header = next((i for i, line in enumerate(text) if line.strip()), 0)
        table = pd.read_csv(csv_path, dtype=str, skipinitialspace=True, skip_blank_lines=False, skiprows=before_header,
                            keep_default_na=False, na_values=[""])  # only an empty cell is empty ("nan" is a typo)
    except UnicodeDecodeError as exc:
        raise DataError(f"{csv_path}: cannot parse: {str(exc).splitlines()[0]} (save it as UTF-8)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{csv_path}: cannot parse: {str(exc).splitlines()[0]}") from None
    blank = table.isna().all(axis=1).to_numpy()  # empty lines: kept to number the rows as the file does
    first = before_header + 2  # the line of the first row after the header
    return parse_annotations(table[~blank], str(csv_path), lines=[int(i) + first for i in np.flatnonzero(~blank)])


def write_annotations(path: Path, rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Write annotation rows (video, start, end, label, actor) as annotations.csv, atomically:
    a reader sees the old file or the new one, never half of one."""
    table = pd.DataFrame(rows, columns=[*ANNOTATION_COLUMNS, "actor"])
    atomic_write_text(Path(path), table.to_csv(index=False))
    return table


def append_annotations(path: Path, rows: list[dict]) -> pd.DataFrame:
    """Add rows to annotations.csv (created if missing), validated as a whole before anything is written."""
    path = Path(path)
    old = read_annotations(path) if path.is_file() else pd.DataFrame(columns=[*ANNOTATION_COLUMNS, "actor"])
    table = pd.concat([old, pd.DataFrame(rows)], ignore_index=True)[[*ANNOTATION_COLUMNS, "actor"]]
    parse_annotations(table, str(path))
    return write_annotations(path, table)


def mp4_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """A writer of BGR frames as MPEG-4 Part 2 in an .mp4: what OpenCV's bundled FFmpeg writes and every
    player reads (the recorder's takes, the synthetic clips)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise DataError(f"{path.parent}: cannot write a video there")
    return writer


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """RGB frames as an .mp4 (see mp4_writer)."""
    height, width = frames[0].shape[:2]
    writer = mp4_writer(path, fps, width, height)
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


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


def read_image(path: Path) -> tuple[np.ndarray | None, str]:
    """A BGR image, or None and what is wrong with the file."""
    data = path.read_bytes()
    if not data:
        return None, "empty file (0 bytes)"
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-64:]:  # cv2.imread fills a cut JPEG with grey
        return None, "truncated JPEG (no end-of-image marker)"
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        return None, "cannot be read as an image (corrupt or not an image)"
    return frame, ""
