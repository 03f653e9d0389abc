"""The labeller: segment editing (pure), and the real window under Xvfb driven by key events,
checked by the CSV it saves (through the parser extract uses) and a screenshot."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from kombat.label import Editor
from kombat.recordings import read_annotations

from .conftest import focus_window, project_env, screenshot, vfr_times, write_clip, write_video, xdotool


def test_label_keys_start_relabel_and_the_brackets_move_a_segment():
    editor = Editor(duration=3.0)
    assert editor.label(1.0, "punch") == "new punch segment at 1.00 s"
    assert editor.segments == [[1.0, 1.5, "punch"]] and editor.selected == 0 and editor.dirty
    editor.label(0.2, "other")  # sorted by start, the new one selected
    assert [s[2] for s in editor.segments] == ["other", "punch"] and editor.selected == 0
    assert editor.label(1.2, "kick") == "segment 2 is kick"
    editor.follow(1.1)
    assert editor.set_end(2.0) == "segment 2: 1.00..2.00 s"
    assert editor.set_start(2.5) == "a segment must end after it starts" and editor.segments[1][:2] == [1.0, 2.0]
    assert editor.delete() == "deleted kick 1.00..2.00 s" and editor.segments == [[0.2, 0.7, "other"]]


def test_a_new_segment_stops_at_the_next_one_and_at_the_end():
    editor = Editor(duration=2.0, segments=[[1.2, 1.6, "kick"]])
    editor.label(1.0, "punch")
    editor.label(1.8, "other")
    assert editor.segments == [[1.0, 1.2, "punch"], [1.2, 1.6, "kick"], [1.8, 2.0, "other"]]
    assert Editor(duration=2.0).delete().startswith("select a segment first")


def test_a_segment_started_on_a_frame_holds_that_frame_as_extract_reads_it():
    """30 fps frame 2 is at 0.0667 s: a start rounded to 0.067 began after it, so extract left the frame out and
    Tab jumped to the frame after."""
    import pandas as pd

    from kombat.data import labels_at
    from kombat.label import start_ms

    times = [k / 30 for k in range(30)]
    editor = Editor(duration=1.0)
    editor.label(times[2], "kick")
    editor.follow(times[20])
    editor.set_start(times[5])
    start = editor.segments[0][0]
    assert start == 0.166 and start_ms(times[3]) == 0.1 and start_ms(0.5) == 0.5
    segments = pd.DataFrame([editor.segments[0]], columns=["start", "end", "label"])
    assert labels_at(segments, times[4:7]) == [None, "kick", "kick"]  # from the frame it was started on


@pytest.fixture
def raw(tmp_path) -> Path:
    """A raw folder with one 3 s clip (20 fps) filmed elsewhere: no segments yet."""
    (tmp_path / "raw/videos").mkdir(parents=True)
    write_video(tmp_path / "raw/videos/eve_1.mp4", ["other", "punch", "kick"], fps=20)
    return tmp_path / "raw"


def label(video: Path, display: str, keys: list[str], *extra: str) -> tuple[subprocess.CompletedProcess, object]:
    """Run the labeller on `video`, type `keys` into its window, take a screenshot, then quit."""
    proc = subprocess.Popen([sys.executable, "-m", "kombat.label", str(video), *extra], env={
        **project_env(), "DISPLAY": display}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        focus_window(display, "kombat label")
        time.sleep(0.5)
        xdotool(display, "key", "--delay", "150", *keys)
        time.sleep(0.5)
        shot = screenshot(display)
        xdotool(display, "key", "--delay", "300", "q", "q")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), shot


def test_a_clip_filmed_elsewhere_is_labelled_from_scratch(raw, x_display, tmp_path):
    # 1 s on, "p": a new punch segment at 1.00 s; "]" after 6 frames: it ends at 1.30 s;
    # 1 s on from there, "k": a kick at 2.30..2.80 s; "s" saves.
    keys = ["l", "p", *["period"] * 6, "bracketright", "l", "k", "s"]
    result, shot = label(raw / "videos/eve_1.mp4", x_display, keys)
    assert result.returncode == 0, result.stderr[-2000:]
    table = read_annotations(raw / "annotations.csv")
    assert table[["video", "start", "end", "label", "actor"]].values.tolist() == [
        ["videos/eve_1.mp4", 1.0, 1.3, "punch", "eve"], ["videos/eve_1.mp4", 2.3, 2.8, "kick", "eve"]]
    assert "saved 2 segments of videos/eve_1.mp4" in result.stdout
    assert shot.std() > 20 and (shot.reshape(-1, 3).max(axis=1) > 0).mean() > 0.3
    cv2.imwrite(str(tmp_path / "label.png"), shot)


def test_the_playhead_is_at_each_frame_s_own_timestamp(tmp_path, x_display):
    # A 30-then-10 fps H.264 clip (OpenCV says ~22 fps): "l" goes 1 s on, to the frame at 1.0 s; two
    # frames on ("." ".") is the frame stamped 1.2 s, where "p" starts a punch; "]" two frames later
    # ends it at 1.4 s. By index / nominal fps these would be 1.44 and 1.53 s.
    (tmp_path / "raw/videos").mkdir(parents=True)
    video = tmp_path / "raw/videos/vic_1.mp4"
    write_clip(video, "libx264", vfr_times())
    keys = ["l", "period", "period", "p", "period", "period", "bracketright", "s"]
    result, _ = label(video, x_display, keys)
    assert result.returncode == 0, result.stderr[-2000:]
    table = read_annotations(tmp_path / "raw/annotations.csv")
    assert table[["start", "end", "label"]].values.tolist() == [[1.2, 1.4, "punch"]]


def test_saving_refuses_what_extract_would_refuse_and_keeps_the_file(raw, x_display):
    # A segment that ends after the 3 s video (proposed times of a take cut short, say) and another
    # video's row, which the labeller keeps as it is.
    csv = raw / "annotations.csv"
    csv.write_text("video,start,end,label,actor\nvideos/other.mp4,0.0,1.0,kick,zed\n"
                   "videos/eve_1.mp4,0.5,1.0,other,eve\nvideos/eve_1.mp4,2.5,4.0,punch,eve\n")
    before = csv.read_bytes()
    result, _ = label(raw / "videos/eve_1.mp4", x_display, ["s"])
    assert "not saved: " in result.stdout and "ends after the video" in result.stdout
    assert csv.read_bytes() == before
    # Tab, Tab: the punch (the playhead jumps to 2.50 s); 4 frames on, "]" ends it at 2.70 s; then
    # Tab to the first segment, "k" relabels it; "s" saves.
    keys = ["Tab", "Tab", *["period"] * 4, "bracketright", "Tab", "k", "s"]
    result, _ = label(raw / "videos/eve_1.mp4", x_display, keys)
    assert "saved 2 segments" in result.stdout, result.stdout + result.stderr[-1000:]
    table = read_annotations(csv)
    assert table[["video", "start", "end", "label"]].values.tolist() == [
        ["videos/other.mp4", 0.0, 1.0, "kick"], ["videos/eve_1.mp4", 0.5, 1.0, "kick"],
        ["videos/eve_1.mp4", 2.5, 2.7, "punch"]]


def test_a_csv_the_labeller_cannot_parse_names_the_row(raw):
    (raw / "annotations.csv").write_text("video,start,end,label\nvideos/eve_1.mp4,1,0.5,punch\n")
    out = subprocess.run([sys.executable, "-m", "kombat.label", str(raw / "videos/eve_1.mp4")], env=project_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        f"kombat label: error: {(raw / 'annotations.csv').resolve()}: row 2: segment 1.0..0.5 s is empty or negative"]


def test_no_display_is_one_line_not_a_qt_abort(raw):
    env = {name: value for name, value in project_env().items() if name not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([sys.executable, "-m", "kombat.label", str(raw / "videos/eve_1.mp4")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "kombat label: error: no display to open the 'kombat label' window on (DISPLAY is not set): run it in a desktop "
        "session"]


def test_a_video_outside_the_annotations_folder_is_refused(tmp_path, raw):
    elsewhere = tmp_path / "elsewhere.mp4"
    write_video(elsewhere, ["other"], fps=20)
    out = subprocess.run([sys.executable, "-m", "kombat.label", str(elsewhere), "--annotations",
                          str(raw / "annotations.csv")], env=project_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not under" in out.stderr and len(out.stderr.strip().splitlines()) == 1
