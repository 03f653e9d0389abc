"""Extract on tiny real inputs: mp4 files written by OpenCV, and class folders of images."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from unittest.mock import Mock

import cv2
import numpy as np
import pytest

from kombat import schema
from kombat.compose import compose
from kombat.errors import DataError
from kombat.stages import extract
from kombat.storage import read_dataset

from ..conftest import (ROOT, drawn_frame, overstate_frame_count, vfr_times, write_clip, write_packed_avi,
                        write_video)


@pytest.fixture
def cfg(cfg):
    """One tick stream per video (extract.every_frame off): most tests here count ticks."""
    return dataclasses.replace(cfg, extract=dataclasses.replace(cfg.extract, every_frame=False))


def every_frame(cfg):
    return dataclasses.replace(cfg, extract=dataclasses.replace(cfg.extract, every_frame=True))


def test_every_frame_gives_each_recorded_frame_to_one_tick_stream(cfg, video_raw_dir, tmp_path):
    m = read_dataset(_run(every_frame(cfg), video_raw_dir, tmp_path)).manifest  # 20 fps videos, 10 fps ticks: 2 phases
    ann = m[m.source == "videos/ann.mp4"]
    assert sorted(ann["phase"].unique()) == [0, 1]
    assert sorted(ann["time"]) == [round(k / 20, 4) for k in range(58)]  # each frame once, none left out
    for phase, stream in ann.groupby("phase", sort=False):  # a stream: ticks 0.1 s apart, a frame later each phase
        assert stream["tick"].tolist() == list(range(len(stream)))
        assert np.allclose(stream["time"], stream["tick"] / 10 + phase / 20)
    assert ann["phase"].is_monotonic_increasing  # stream after stream: each a clip of its own
    one = read_dataset(_run(cfg, video_raw_dir, tmp_path / "one")).manifest
    assert set(one["phase"]) == {0} and one[one.source == "videos/ann.mp4"]["time"].tolist() == \
        ann[ann.phase == 0]["time"].tolist()


def test_a_25_fps_video_gives_every_recorded_frame_too(cfg, video_raw_dir, tmp_path):
    """25 frames a second at 10 fps ticks: 3 streams (2 would leave one frame in five unseen), some frames a
    tick of two streams."""
    (video_raw_dir / "videos" / "ann.mp4").unlink()
    write_video(video_raw_dir / "videos" / "ann.avi", ["punch", "kick", "other"], fps=25)  # it states 25/1
    csv = video_raw_dir / "annotations.csv"
    csv.write_text(csv.read_text().replace("videos/ann.mp4", "videos/ann.avi"))
    times = [k / 25 for k in range(75)]
    summary = extract.run(every_frame(cfg), video_raw_dir, tmp_path / "frames")
    m = read_dataset(tmp_path / "frames").manifest
    ann = m[m.source == "videos/ann.avi"]
    assert sorted(ann["phase"].unique()) == [0, 1, 2]
    assert sorted(set(ann["time"])) == [round(t, 4) for t in times if t <= 2.9]  # none left out
    for phase, stream in ann.groupby("phase"):
        assert stream["tick"].tolist() == list(range(len(stream)))  # each stream: ticks 0.1 s apart
    assert json.loads((tmp_path / "frames" / "counts.json").read_text())["between_ticks"] == {}
    assert "between ticks" not in summary


@pytest.mark.parametrize("name", ["ann.mkv", "ann.mp4"])
def test_a_steady_30_fps_stamped_in_milliseconds_gives_every_frame_once(cfg, video_raw_dir, tmp_path, name):
    """Matroska and WebM (OBS's and browsers' recordings) keep milliseconds: a 30 fps frame's time is rounded by up
    to half of one (0.033, 0.067 s), so frame 2 at 0.067 s came 0.3 ms after its tick at 0.0667 s. Those frames
    once missed their ticks: a third of the video was never used, blamed on "an uneven frame rate"."""
    (video_raw_dir / "videos" / "ann.mp4").unlink()
    times = [k / 30 for k in range(90)]
    write_clip(video_raw_dir / "videos" / name, "libx264", times)
    csv = video_raw_dir / "annotations.csv"
    csv.write_text(csv.read_text().replace("videos/ann.mp4", f"videos/{name}"))
    summary = extract.run(every_frame(cfg), video_raw_dir, tmp_path / "frames")
    ann = read_dataset(tmp_path / "frames").manifest.query(f"source == 'videos/{name}'")
    assert sorted(ann["phase"].unique()) == [0, 1, 2]
    last = ann["time"].max()
    assert last > 2.8 and ann["time"].is_unique  # each frame in one stream, none twice
    assert sorted(ann["time"]) == [round(round(t, 3), 4) for t in times if round(t, 3) <= last]  # none left out
    assert json.loads((tmp_path / "frames" / "counts.json").read_text())["between_ticks"] == {}
    assert "between ticks" not in summary


def test_frames_an_uneven_frame_rate_shows_at_no_tick_are_counted(cfg, video_raw_dir, tmp_path):
    """20 fps with three frames 15 ms before the next one: no tick of any stream falls in their 15 ms."""
    times = sorted([k / 20 for k in range(60)] + [0.135, 1.035, 2.035])
    write_clip(video_raw_dir / "videos" / "ann.mp4", "libx264", times)
    summary = extract.run(every_frame(cfg), video_raw_dir, tmp_path / "frames")
    counts = json.loads((tmp_path / "frames" / "counts.json").read_text())
    assert counts["between_ticks"] == {"videos/ann.mp4": 3} and counts["skipped"] == {}
    assert "3 recorded frame(s) of 1 video(s) fell between ticks" in summary
    one = extract.run(cfg, video_raw_dir, tmp_path / "one")  # one tick stream: the frames between are its choice
    assert json.loads((tmp_path / "one" / "counts.json").read_text())["between_ticks"] == {}
    assert "between ticks" not in one


def test_videos_read_side_by_side_give_the_same_bytes_as_one_at_a_time(cfg, video_raw_dir, tmp_path, monkeypatch):
    from kombat import workers

    folders = {}
    for n in (1, 2):
        monkeypatch.setattr(workers, "cores", lambda n=n: n)
        folders[n] = _run(cfg, video_raw_dir, tmp_path / f"cores{n}")
    for name in ("images.npy", "manifest.csv", "counts.json"):
        assert (folders[1] / name).read_bytes() == (folders[2] / name).read_bytes()


def test_videos_and_annotations_become_labelled_frames(cfg, video_raw_dir, tmp_path):
    out = tmp_path / "frames"
    summary = extract.run(cfg, video_raw_dir, out)
    frames = read_dataset(out)
    assert frames.images.shape[1:] == (56, 100, 3) and frames.images.dtype == np.uint8
    m = frames.manifest
    # 10 samples per second from 0..2.9 s inside segments: 10 punch, 10 kick, 9 other per actor.
    assert m.groupby("actor").size().to_dict() == {"ann": 29, "bob": 29, "cy": 29}
    assert m[m.actor == "ann"].label.value_counts().to_dict() == {"punch": 10, "kick": 10, "other": 9}
    assert set(m.split) == {"train", "val", "test"}
    assert m.groupby("actor").split.nunique().max() == 1  # an actor never straddles splits
    assert summary.startswith("87 frames 100x56")


def test_gaps_between_segments_are_unlabelled_context_in_tick_order(cfg, video_raw_dir, tmp_path):
    csv = video_raw_dir / "annotations.csv"
    csv.write_text(csv.read_text().replace(",1.0,2.0,kick,", ",1.0,1.5,kick,"))
    m = read_dataset(_run(cfg, video_raw_dir, tmp_path)).manifest
    assert (m.label == "kick").sum() == 15
    gap = (m.time >= 1.5) & (m.time < 2.0)
    assert gap.any() and (m.loc[gap, "label"] == "").all()  # kept as context, never a target
    for _, clip in m.groupby("source"):  # every tick, in order, up to the last labelled one
        assert clip["tick"].tolist() == list(range(len(clip))) and clip["label"].iloc[-1] != ""


def _run(cfg, raw, tmp_path):
    out = tmp_path / "frames"
    extract.run(cfg, raw, out)
    return out


def test_missing_video_is_named(cfg, video_raw_dir, tmp_path):
    (video_raw_dir / "videos" / "bob.mp4").unlink()
    with pytest.raises(DataError, match=r"bob\.mp4: video named in the annotations does not exist$"):
        _run(cfg, video_raw_dir, tmp_path)


def test_missing_videos_are_named_before_any_video_is_decoded(cfg, video_raw_dir, tmp_path, monkeypatch):
    decoder = Mock(side_effect=AssertionError("a video was decoded"))
    monkeypatch.setattr(extract, "VideoReader", decoder)
    for video in ("bob.mp4", "cy.mp4"):
        (video_raw_dir / "videos" / video).unlink()
    with pytest.raises(DataError, match=r"bob\.mp4: video named in the annotations does not exist \(and 1 more\)$"):
        _run(cfg, video_raw_dir, tmp_path)
    decoder.assert_not_called()


def test_segment_past_the_end_is_named(cfg, video_raw_dir, tmp_path):
    csv = video_raw_dir / "annotations.csv"
    csv.write_text(csv.read_text() + "videos/cy.mp4,3.0,9.0,other,cy\n")
    with pytest.raises(DataError, match=r"cy\.mp4: segment 3\.0\.\.9\.0 s ends after the video"):
        _run(cfg, video_raw_dir, tmp_path)


def test_not_a_video_is_named(cfg, video_raw_dir, tmp_path):
    (video_raw_dir / "videos" / "ann.mp4").write_bytes(b"this is not a video")
    with pytest.raises(DataError, match=r"ann\.mp4: cannot be opened as a video"):
        _run(cfg, video_raw_dir, tmp_path)


def test_failed_run_keeps_earlier_output(cfg, video_raw_dir, tmp_path):
    out = _run(cfg, video_raw_dir, tmp_path)
    before = (out / "images.npy").read_bytes()
    (video_raw_dir / "annotations.csv").write_text("video,start,end,label\nvideos/ann.mp4,0,1,dance\n")
    with pytest.raises(DataError):
        extract.run(cfg, video_raw_dir, out)
    assert (out / "images.npy").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".frames")] == []


def test_article_folders_format(cfg, tmp_path):
    raw = tmp_path / "images"
    for label in ("punch", "kick", "other"):
        for actor in ("ann", "bob", "cy"):
            (raw / label).mkdir(parents=True, exist_ok=True)
            for k in range(3):
                cv2.imwrite(str(raw / label / f"{actor}_{k}.png"), drawn_frame(label, seed=k))
    folders_cfg = schema.validate(compose(["data=folders"], ROOT / "conf"))  # still frames, a window of one
    frames = read_dataset(_run(folders_cfg, raw, tmp_path))
    m = frames.manifest
    assert len(m) == 27 and sorted(set(m.actor)) == ["ann", "bob", "cy"]
    assert m.label.value_counts().to_dict() == {"punch": 9, "kick": 9, "other": 9}

    # One bad image among many is skipped, counted and reported; strict mode stops at it.
    (raw / "kick" / "ann_0.png").write_bytes(b"\x89PNG broken")
    (raw / "other" / "bob_1.png").write_bytes(b"")
    cv2.imwrite(str(raw / "punch" / "cy_9.jpg"), drawn_frame("punch", seed=9))
    jpeg = (raw / "punch" / "cy_9.jpg").read_bytes()
    (raw / "punch" / "cy_9.jpg").write_bytes(jpeg[: len(jpeg) * 9 // 10])  # OpenCV decodes it, the tail grey
    summary = extract.run(folders_cfg, raw, tmp_path / "frames")
    assert len(read_dataset(tmp_path / "frames").manifest) == 25
    assert "skipped 3 bad frame(s) in 3 file(s)" in summary
    skipped = json.loads((tmp_path / "frames" / "counts.json").read_text())["skipped"]
    assert {Path(k).name: v["reason"] for k, v in skipped.items()} == {
        "ann_0.png": "cannot be read as an image (corrupt or not an image)", "bob_1.png": "empty file (0 bytes)",
        "cy_9.jpg": "truncated JPEG (no end-of-image marker)"}
    strict = dataclasses.replace(folders_cfg, extract=dataclasses.replace(cfg.extract, strict=True))
    with pytest.raises(DataError, match=r"(ann_0\.png|bob_1\.png|cy_9\.jpg): .*extract.strict"):
        _run(strict, raw, tmp_path)


def strict(cfg):
    return dataclasses.replace(cfg, extract=dataclasses.replace(cfg.extract, strict=True))


def test_zero_byte_video_is_named(cfg, video_raw_dir, tmp_path):
    (video_raw_dir / "videos" / "bob.mp4").write_bytes(b"")
    with pytest.raises(DataError, match=r"bob\.mp4: cannot be opened as a video"):
        _run(cfg, video_raw_dir, tmp_path)


def test_corrupt_video_is_named(cfg, video_raw_dir, tmp_path):
    path = video_raw_dir / "videos" / "bob.mp4"
    data = bytearray(path.read_bytes())
    data[: len(data) // 2] = bytes(len(data) // 2)  # the header and half the stream zeroed
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"bob\.mp4: (cannot be opened as a video|has no frames|segment .* ends after the video)"):
        _run(cfg, video_raw_dir, tmp_path)


def test_video_without_frames_is_named(cfg, video_raw_dir, tmp_path):
    path = video_raw_dir / "videos" / "cy.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20, (160, 90))
    writer.release()  # a valid container with no frames (or nothing at all)
    with pytest.raises(DataError, match=r"cy\.mp4: (has no frames|has no video stream|cannot be opened as a video)"):
        _run(cfg, video_raw_dir, tmp_path)


def test_cut_off_video_is_named(cfg, video_raw_dir, tmp_path):
    path = video_raw_dir / "videos" / "ann.mp4"
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])  # the tail (and the index) lost
    with pytest.raises(DataError, match=r"ann\.mp4: cannot be opened as a video"):
        _run(cfg, video_raw_dir, tmp_path)


def test_damaged_stream_is_skipped_and_counted_or_stops_in_strict_mode(cfg, video_raw_dir, tmp_path):
    # The index survives but the last fifth of the stream is zeros: FFmpeg decodes the frames before it.
    path = video_raw_dir / "videos" / "ann.mp4"
    data = bytearray(path.read_bytes())
    index = data.find(b"moov") - 4
    data[index * 4 // 5: index] = bytes(index - index * 4 // 5)
    path.write_bytes(bytes(data))
    summary = extract.run(cfg, video_raw_dir, tmp_path / "frames")
    counts = json.loads((tmp_path / "frames" / "counts.json").read_text())
    (name, entry), = counts["skipped"].items()
    assert name.endswith("ann.mp4") and entry["frames"] > 0 and f"skipped {entry['frames']} bad frame(s)" in summary
    frames = read_dataset(tmp_path / "frames").manifest
    assert (frames.actor == "ann").sum() + entry["frames"] == 29  # every wanted frame is kept or counted
    with pytest.raises(DataError, match=r"ann\.mp4: frames that cannot be decoded .*extract.strict"):
        _run(strict(cfg), video_raw_dir, tmp_path)


def test_ticks_in_a_gap_with_no_frame_are_counted_context_not_targets(cfg, video_raw_dir, tmp_path):
    """A camera that stalled (no frame from 1.07 s to 1.9 s, inside the kick): the frame before the gap once
    stood in as the target of every tick of it, labelled with moments it never showed. It stays as context (the
    windows and motion after the gap see it held, as play does), counted, not damage. A clock that jumps ahead
    is the same."""
    write_clip(video_raw_dir / "videos" / "ann.mp4", "libx264", [k / 30 for k in range(90) if not 33 <= k < 57])
    summary = extract.run(cfg, video_raw_dir, tmp_path / "frames")
    counts = json.loads((tmp_path / "frames" / "counts.json").read_text())
    (name, gap), = counts["gaps"].items()
    assert name.endswith("ann.mp4") and gap == {"ticks": 3, "longest_s": 0.73} and counts["skipped"] == {}  # 1.6-1.8 s
    assert "3 labelled tick(s) of 1 video(s) fell in a gap with no frame (up to 0.7 s" in summary
    ann = read_dataset(tmp_path / "frames").manifest.query("actor == 'ann'").set_index("tick")
    assert ann.index.tolist() == list(range(29))  # every tick is there, one after the other
    late = ann["label"][ann.index * 0.1 - ann["time"] > 0.5]
    assert late.index.tolist() == [16, 17, 18] and (late == "").all()  # the held frame: context, not a target
    assert (ann.loc[11:15, "time"] == ann.loc[11, "time"]).all() and ann.loc[15, "label"] == "kick"  # 1.07 s's frame
    assert not extract.run(strict(cfg), video_raw_dir, tmp_path / "strict").startswith("error")  # not damage


def test_a_stream_that_ends_early_is_damage_not_clipping(cfg, video_raw_dir, tmp_path):
    # An AVI cut after 85% of its bytes: its header still promises 3 s, FFmpeg reads the frames that
    # are left, and the labelled ticks after them are counted as damage (or stop a strict run).
    (video_raw_dir / "videos" / "cy.mp4").unlink()
    avi = video_raw_dir / "videos" / "cy.avi"
    write_video(avi, ["punch", "kick", "other"])
    avi.write_bytes(avi.read_bytes()[: avi.stat().st_size * 85 // 100])
    csv = video_raw_dir / "annotations.csv"
    csv.write_text(csv.read_text().replace("videos/cy.mp4", "videos/cy.avi"))
    summary = extract.run(cfg, video_raw_dir, tmp_path / "frames")
    counts = json.loads((tmp_path / "frames" / "counts.json").read_text())
    (name, entry), = counts["skipped"].items()
    assert name.endswith("cy.avi") and "stream ends at" in entry["reason"] and counts["clipped"] == {}
    kept = (read_dataset(tmp_path / "frames").manifest.actor == "cy").sum()
    assert 0 < kept < 29 and kept + entry["frames"] == 29 and f"skipped {entry['frames']} bad frame(s)" in summary
    with pytest.raises(DataError, match=r"cy\.avi: stream ends at [\d.]+ s of the 3\.00 s .*extract.strict"):
        _run(strict(cfg), video_raw_dir, tmp_path)


def packed_avi_for(raw_dir: Path, actor: str) -> Path:
    """The actor's clip (punch, kick, other, a second each at 20 fps) as a DivX AVI with packed B-frames."""
    (raw_dir / "videos" / f"{actor}.mp4").unlink()
    avi = raw_dir / "videos" / f"{actor}.avi"
    frames = [cv2.cvtColor(drawn_frame(label, seed=i * 100 + k), cv2.COLOR_BGR2RGB)
              for i, label in enumerate(["punch", "kick", "other"]) for k in range(20)]
    write_packed_avi(avi, frames, fps=20)
    csv = raw_dir / "annotations.csv"
    csv.write_text(csv.read_text().replace(f"videos/{actor}.mp4", f"videos/{actor}.avi"))
    return avi


def test_a_divx_avi_with_packed_b_frames_gives_every_frame_at_its_time(cfg, video_raw_dir, tmp_path):
    packed_avi_for(video_raw_dir, "cy")
    every = dataclasses.replace(cfg, extract=dataclasses.replace(cfg.extract, every_frame=True))
    summary = extract.run(every, video_raw_dir, tmp_path / "frames")
    counts = json.loads((tmp_path / "frames" / "counts.json").read_text())
    assert counts["skipped"] == {} and "skipped" not in summary
    m = read_dataset(tmp_path / "frames").manifest
    rows = ["time", "tick", "phase", "label"]
    cy, bob = (m[m.actor == actor][rows].reset_index(drop=True) for actor in ("cy", "bob"))
    assert cy.equals(bob)  # the same ticks, times and labels as the same clip in an mp4 without B-frames


def test_a_packed_avi_cut_short_counts_the_frames_it_lost(cfg, video_raw_dir, tmp_path):
    avi = packed_avi_for(video_raw_dir, "cy")
    avi.write_bytes(avi.read_bytes()[: avi.stat().st_size * 85 // 100])
    summary = extract.run(cfg, video_raw_dir, tmp_path / "frames")
    (name, entry), = json.loads((tmp_path / "frames" / "counts.json").read_text())["skipped"].items()
    assert name.endswith("cy.avi") and "stream ends at" in entry["reason"]
    kept = (read_dataset(tmp_path / "frames").manifest.actor == "cy").sum()
    assert 0 < kept < 29 and kept + entry["frames"] == 29 and f"skipped {entry['frames']} bad frame(s)" in summary


def test_a_container_count_that_overstates_the_stream_is_not_damage(cfg, video_raw_dir, tmp_path):
    # An AVI that promises 2 frames more than it holds, with its last segment annotated to the
    # promised end: the stream is whole, the segment is clipped to the last frame, nothing is
    # skipped, and strict mode runs too.
    (video_raw_dir / "videos" / "bob.mp4").unlink()
    avi = video_raw_dir / "videos" / "bob.avi"
    write_video(avi, ["punch", "kick", "other"])
    overstate_frame_count(avi, 2)
    capture = cv2.VideoCapture(str(avi))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 62
    capture.release()
    csv = video_raw_dir / "annotations.csv"
    csv.write_text(csv.read_text().replace("videos/bob.mp4", "videos/bob.avi").replace("2.0,2.9,other,bob", "2.0,3.1,other,bob"))
    for config in (cfg, strict(cfg)):
        summary = extract.run(config, video_raw_dir, tmp_path / "frames")
        counts = json.loads((tmp_path / "frames" / "counts.json").read_text())
        assert counts["skipped"] == {} and counts["clipped"] == {"videos/bob.avi": 1}
        assert "skipped" not in summary and "clipped to the last frame" in summary
        m = read_dataset(tmp_path / "frames").manifest
        bob = m[m.actor == "bob"]
        assert bob.label.value_counts().to_dict() == {"punch": 10, "kick": 10, "other": 10}  # ticks 2.0..2.9 s
        assert bob.time.max() == pytest.approx(2.9)


def test_a_class_with_no_frames_is_named(cfg, video_raw_dir, tmp_path):
    csv = video_raw_dir / "annotations.csv"
    csv.write_text("\n".join(line for line in csv.read_text().splitlines() if ",kick," not in line) + "\n")
    with pytest.raises(DataError, match="class 'kick' has no frames after extraction"):
        _run(cfg, video_raw_dir, tmp_path)


def test_a_class_absent_from_the_test_split_is_named(cfg, video_raw_dir, tmp_path):
    named = dataclasses.replace(cfg, split=dataclasses.replace(cfg.split, test_actors=["cy"], val_actors=["bob"]))
    csv = video_raw_dir / "annotations.csv"
    csv.write_text("\n".join(line for line in csv.read_text().splitlines() if line != "videos/cy.mp4,1.0,2.0,kick,cy")
                   + "\n")
    with pytest.raises(DataError, match=r"the test split \(actors \['cy'\]\) has no kick frames"):
        _run(named, video_raw_dir, tmp_path)


def test_variable_frame_rate_takes_of_one_person_are_timed_by_their_timestamps(cfg, tmp_path):
    # One person, three takes, each an H.264 MP4 at 30 fps for 1 s then 10 fps (OpenCV reports ~22 fps,
    # so index / fps would put frame 35 at 1.58 s instead of 1.5 s). The frames at 1.2, 1.3 and 1.4 s
    # are bright, and exactly those are annotated punch: the labels must land on them.
    raw = tmp_path / "raw"
    (raw / "videos").mkdir(parents=True)
    times = vfr_times()
    bright = {times.index(t) for t in times if 1.15 < t < 1.45}
    rows = ["video,start,end,label,actor"]
    for take in (1, 2, 3):
        write_clip(raw / "videos" / f"alice_take{take}.mp4", "libx264", times, bright=bright)
        rows += [f"videos/alice_take{take}.mp4,0.0,0.5,kick,alice", f"videos/alice_take{take}.mp4,0.5,1.15,other,alice",
                 f"videos/alice_take{take}.mp4,1.15,1.45,punch,alice", f"videos/alice_take{take}.mp4,1.45,2.0,other,alice"]
    (raw / "annotations.csv").write_text("\n".join(rows) + "\n")
    summary = extract.run(cfg, raw, tmp_path / "frames")
    frames = read_dataset(tmp_path / "frames")
    m = frames.manifest
    take = m[m.source == "videos/alice_take1.mp4"]
    assert take["tick"].tolist() == list(range(20))
    assert take["time"].tolist() == pytest.approx([k / 10 for k in range(20)], abs=1e-3)  # the frame shown at each tick
    is_bright = frames.images[take.index].mean(axis=(1, 2, 3)) > 150
    assert take.loc[is_bright, "label"].tolist() == ["punch"] * 3 and (take.loc[~is_bright, "label"] != "punch").all()
    # One person alone: split by take, and the summary says what validation then means.
    assert sorted(m.groupby("source").split.first()) == ["test", "train", "val"]
    assert "split by take: validation and test are other takes of the same person" in summary
    counts = json.loads((tmp_path / "frames" / "counts.json").read_text())
    assert counts["split_by"] == "take"
