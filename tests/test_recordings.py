"""The raw format: annotations parsed with the row named on error, written back, and videos written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from kombat.errors import DataError
from kombat.recordings import group_of, parse_annotations, read_annotations, write_annotations, write_video


def table(rows, columns=("video", "start", "end", "label", "actor")):
    return pd.DataFrame(rows, columns=list(columns))


def test_parse_annotations_accepts_and_defaults_actor_to_video():
    rows = parse_annotations(table([("a.mp4", 0, 1, "punch"), ("a.mp4", 1, 2.5, "other")], ("video", "start", "end", "label")), "ann.csv")
    assert rows["actor"].tolist() == ["a", "a"]
    assert rows["end"].tolist() == [1.0, 2.5]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("a.mp4", 0, 1, "jump", "x")], "unknown label 'jump'"),
        ([("a.mp4", 2, 1, "kick", "x")], "empty or negative"),
        ([("a.mp4", "soon", 1, "kick", "x")], "start 'soon' is not a number"),
        ([("a.mp4", float("nan"), 1, "kick", "x")], "row 2: start is empty$"),
        ([("a.mp4", 5, 6, "kick", "x"), ("a.mp4", 0, 2, "kick", "x"), ("a.mp4", 1, 3, "punch", "x")],
         r"rows 3 and 4: segments 0.0..2.0 and 1.0..3.0 of a.mp4 overlap"),
    ],
)
def test_parse_annotations_rejects_bad_rows(rows, message):
    with pytest.raises(DataError, match=message) as error:
        parse_annotations(table(rows), "ann.csv")
    assert str(error.value).startswith("ann.csv")


def test_a_csv_separated_by_semicolons_is_told_so(tmp_path):
    csv = tmp_path / "annotations.csv"
    csv.write_text("video;start;end;label\nvideos/a.mp4;0.5;1.0;punch\n")  # a spreadsheet's export in many locales
    with pytest.raises(DataError, match=r"annotations\.csv: missing column\(s\) .*separated by ';': save it with ',' between columns and '\.' in numbers\)$"):
        read_annotations(csv)
    csv.write_text("video,start,end\nvideos/a.mp4,0.5,1.0\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['label'\]; expected video,start,end,label\[,actor\]$"):
        read_annotations(csv)


def test_parse_annotations_rejects_wrong_columns():
    with pytest.raises(DataError, match=r"missing column\(s\) \['label'\]"):
        parse_annotations(pd.DataFrame({"video": ["a"], "start": [0], "end": [1]}), "ann.csv")
    with pytest.raises(DataError, match="unknown column"):
        parse_annotations(table([("a.mp4", 0, 1, "kick", "x", 3)], ("video", "start", "end", "label", "actor", "mood")), "a.csv")



def test_written_annotations_parse_back(tmp_path):
    rows = [{"video": "videos/a.mp4", "start": 0.5, "end": 1.0, "label": "punch", "actor": "ann"},
            {"video": "videos/a.mp4", "start": 1.0, "end": 3.0, "label": "other", "actor": "ann"}]
    write_annotations(tmp_path / "annotations.csv", rows)
    parsed = parse_annotations(pd.read_csv(tmp_path / "annotations.csv"), "annotations.csv")
    assert parsed[["video", "start", "end", "label", "actor"]].to_dict("records") == rows


def test_written_video_reads_back(tmp_path):
    frames = [np.full((36, 64, 3), 40 * i, np.uint8) for i in range(5)]
    write_video(tmp_path / "v.mp4", frames, 10)
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    read = []
    while (ok := capture.read())[0]:
        read.append(ok[1])
    assert len(read) == 5 and read[0].shape == (36, 64, 3)
    assert abs(int(read[3].mean()) - 120) < 8  # the frames, not noise


def test_group_of_reads_subfolder_or_name_prefix():
    assert group_of(Path("punch/alice/001.png")) == "alice"
    assert group_of(Path("punch/alice_001.png")) == "alice"
    assert group_of(Path("punch/bob-7.jpg")) == "bob"
    assert group_of(Path("punch/solo.png")) == "solo"


def test_what_a_spreadsheet_adds_is_read_as_meant(tmp_path):
    """A trailing comma, spaces around a header, labels in capitals, a path spelled with ./: the same segments."""
    csv = tmp_path / "annotations.csv"
    csv.write_text("video,start,end,label ,actor,\nvideos/./a.mp4,0,1,KICK,ann,\nvideos/a.mp4,1,2, Punch,ann,\n")
    rows = read_annotations(csv)
    assert rows[["video", "label", "actor"]].values.tolist() == [["videos/a.mp4", "kick", "ann"],
                                                                  ["videos/a.mp4", "punch", "ann"]]
    csv.write_text("video,start,end,label\nvideos/./a.mp4,0,2,kick\nvideos/x/../a.mp4,1,3,punch\n")  # one file
    with pytest.raises(DataError, match=r"rows 2 and 3: segments 0.0..2.0 and 1.0..3.0 of videos/a.mp4 overlap$"):
        read_annotations(csv)


def test_rows_are_numbered_as_the_file_numbers_its_lines(tmp_path):
    csv = tmp_path / "annotations.csv"
    csv.write_text("video,start,end,label\nvideos/a.mp4,0,1,kick\n\n\nvideos/a.mp4,1,2,jump\n")
    with pytest.raises(DataError, match=r"annotations\.csv: row 5: unknown label 'jump'"):
        read_annotations(csv)
    csv.write_text("\n\nvideo,start,end,label\nvideos/a.mp4,0,1,kick\n\nvideos/a.mp4,1,2,jump\n")  # blank first
    with pytest.raises(DataError, match=r"annotations\.csv: row 6: unknown label 'jump'"):
        read_annotations(csv)
    csv.write_text("video,start,end,label,actor\nvideos/a.mp4,nan,1,kick,NA\n")  # a typo is not an empty cell
    with pytest.raises(DataError, match=r"row 2: start 'nan' is not a number of seconds$"):
        read_annotations(csv)
    csv.write_text("video,start,end,label,actor\nvideos/a.mp4,0,1,kick,NA\n")  # nor is a name that pandas reads as one
    assert read_annotations(csv)["actor"].tolist() == ["NA"]


@pytest.mark.parametrize(("text", "message"), [
    ("video,start,end,label,actor\nvideos/a.mp4,0,1,kick,\n", r"row 2: actor is empty \(name who is filmed"),
    ("video,start,end,label,actor\nvideos/a.mp4,0,1,kick,Ann\nvideos/a.mp4,1,2,punch,ann\n",
     r"rows 2 and 3: videos/a.mp4 is filmed of actor 'Ann' and of 'ann': one video, one actor$"),
    ("video\tstart\tend\tlabel\nvideos/a.mp4\t0\t1\tkick\n", r"separated by tabs: save it as CSV"),
])
def test_who_is_filmed_and_how_the_file_is_saved_are_checked(tmp_path, text, message):
    """A blank actor cell was read as an actor called "nan" (two people left blank became one)."""
    csv = tmp_path / "annotations.csv"
    csv.write_text(text)
    with pytest.raises(DataError, match=message):
        read_annotations(csv)


def test_a_csv_in_another_encoding_is_told_to_be_utf8(tmp_path):
    csv = tmp_path / "annotations.csv"
    csv.write_text("video,start,end,label\nvideos/a.mp4,0,1,kick\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"cannot parse: .* \(save it as UTF-8\)$"):
        read_annotations(csv)
