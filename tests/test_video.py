"""Video files decoded with their timestamps (kombat.video), on clips PyAV writes in other codecs and
containers, at a variable frame rate, rotated, and broken; and the tick rule extract and play share."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from kombat.video import (DROPPED, PacketPlaces, VideoError, VideoReader, at_ticks, in_time_order, index_is_whole,
                          upright)

from .conftest import HEIGHT, WIDTH, marker_frame, vfr_times, write_clip, write_packed_avi


def decode(path: Path) -> list[tuple[float, np.ndarray]]:
    with VideoReader(path) as reader:
        return list(reader)


def bar_of(frame_bgr: np.ndarray) -> int:
    """Which frame a decoded marker frame is (the bar's column / 4)."""
    return int(np.argmax(frame_bgr[HEIGHT // 2, :, :].astype(int).sum(axis=1)) // 4)


def test_at_ticks_picks_the_frame_shown_at_each_tick():
    constant = [(k / 30, k) for k in range(9)]  # 0.3 s at 30 fps
    assert [(tick, frame) for tick, _, frame in at_ticks(constant, 0.1)] == [(0, 0), (1, 3), (2, 6)]
    slow = [(0.0, "a"), (0.25, "b")]  # 4 fps: a frame shown across two ticks appears at both
    assert [(tick, t, f) for tick, t, f in at_ticks(slow, 0.1)] == [
        (0, 0.0, "a"), (1, 0.0, "a"), (2, 0.0, "a"), (3, 0.25, "b"), (4, 0.25, "b")]
    assert [f for _, _, f in at_ticks(constant, None)] == list(range(9))
    assert list(at_ticks([], 0.1)) == []
    # The last two frames stamped alike: the last one is still shown for a tick.
    assert [(tick, f) for tick, _, f in at_ticks([(0.0, "a"), (0.1, "b"), (0.1, "c")], 0.1)] == [(0, "a"), (1, "c")]


def test_an_audio_track_longer_than_the_video_is_not_the_video_s_promise(tmp_path):
    # 1 s of video and 2 s of sound: the container lasts 2 s, the video stream promises 1 s.
    path = tmp_path / "talk.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = container.add_stream("aac", rate=48000)
        for k in range(30):
            for packet in video.encode(av.VideoFrame.from_ndarray(marker_frame(k), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for k in range(2 * 48000 // 1024):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, k * 1024
            for packet in sound.encode(chunk):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    with VideoReader(path) as reader:
        assert reader.info.duration == pytest.approx(1.0, abs=0.05)
        assert len(list(reader)) == 30


@pytest.mark.parametrize("name, codec, pix_fmt", [
    ("clip.avi", "rawvideo", "bgr24"),  # uncompressed AVI, as research data sets ship
    ("clip.mkv", "ffv1", "yuv420p"),  # lossless FFV1 in Matroska
    ("clip.webm", "libvpx-vp9", "yuv420p"),  # what a browser's MediaRecorder writes
    ("clip.mp4", "libx264", "yuv420p"),  # H.264, as phones write
])
def test_variable_frame_rate_clips_come_with_their_timestamps(tmp_path, name, codec, pix_fmt):
    path = tmp_path / name
    times = vfr_times()
    write_clip(path, codec, times, pix_fmt)
    decoded = decode(path)
    assert [round(t, 3) for t, _ in decoded] == [round(t, 3) for t in times]
    assert [bar_of(frame) for _, frame in decoded] == list(range(len(times)))  # each frame in its place
    assert decoded[0][1].shape == (HEIGHT, WIDTH, 3) and decoded[0][1].dtype == np.uint8
    # OpenCV, for contrast, assumes a constant rate: index / its fps puts the last frame (at 1.9 s) elsewhere.
    capture = cv2.VideoCapture(str(path))
    opencv_time = 39 / capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    assert abs(decoded[39][0] - 1.9) < 1e-3 and abs(opencv_time - 1.9) > 0.1


def test_a_rotation_tag_is_honoured_as_a_player_does(tmp_path):
    # A phone held upright stores landscape pixels and a tag saying how to turn them.
    upright_picture = np.zeros((WIDTH, HEIGHT, 3), np.uint8)  # portrait: 160 tall, 96 wide
    upright_picture[:20, :, 0] = 255  # red band at the top
    stored = np.ascontiguousarray(np.rot90(upright_picture, -1))  # turned a quarter clockwise: 96 x 160
    path = tmp_path / "phone.mp4"
    write_clip(path, "libx264", [k / 30 for k in range(5)], rotation=90, frames=[stored] * 5)
    t, frame = decode(path)[0]
    assert frame.shape == (WIDTH, HEIGHT, 3)  # portrait
    assert frame[:20, :, 2].mean() > 200 and frame[-20:, :, 2].mean() < 50  # red (BGR index 2) at the top
    capture = cv2.VideoCapture(str(path))  # OpenCV's FFmpeg backend auto-rotates too: the same picture
    ok, reference = capture.read()
    capture.release()
    assert ok and reference.shape == frame.shape and np.abs(reference.astype(int) - frame).mean() < 8
    assert upright(stored, 90).shape == (WIDTH, HEIGHT, 3)


@pytest.mark.parametrize("content, message", [
    (b"", "cannot be opened as a video"),
    (b"this is not a video at all" * 100, "cannot be opened as a video"),
])
def test_files_that_are_not_video_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message) as error:
        decode(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(VideoError, match="no such video file"):
        decode(tmp_path / "missing.mp4")


def test_a_decoder_that_dies_natively_becomes_one_line_naming_the_file(tmp_path):
    # A native crash in the decoder (OpenCV aborted Python with SIGABRT on some AVIs) reaches the
    # reader as its worker dying by a signal: here the worker is killed mid-stream, as abort() would.
    path = tmp_path / "long.mkv"
    write_clip(path, "ffv1", [k / 30 for k in range(300)])
    before = {child.pid for child in multiprocessing.active_children()}
    with pytest.raises(VideoError, match=r"long\.mkv: the video decoder crashed \(signal SIGABRT\)"):
        with VideoReader(path) as reader:
            worker = next(c for c in multiprocessing.active_children() if c.pid not in before)
            frames = iter(reader)
            next(frames)
            os.kill(worker.pid, signal.SIGABRT)
            for _ in frames:
                pass
    assert not [c for c in multiprocessing.active_children() if c.pid not in before]  # nothing left behind


def test_stopping_early_ends_the_worker(tmp_path):
    path = tmp_path / "long.mkv"
    write_clip(path, "ffv1", [k / 30 for k in range(300)])
    started = time.monotonic()
    with VideoReader(path) as reader:
        first = next(iter(reader))
    assert first[0] == 0.0 and time.monotonic() - started < 10
    assert not [c for c in multiprocessing.active_children() if c.is_alive()]
    assert threading.active_count() >= 1


# ---- frames in display order at their own times ------------------------------------------------


def test_stamps_shuffled_within_the_reorder_delay_are_put_back_in_order():
    # Frames come out of the decoder in display order, their stamps out of order (DivX's packed B-frames
    # decoded as they are): the frames keep their order, the stamps are sorted.
    shuffled = [1, 3, 2, 5, 4, 7, 6, 9, 8, 10]
    out = list(in_time_order([(stamp / 30, k) for k, stamp in enumerate(shuffled)], step=1 / 30))
    assert [frame for _, frame in out] == list(range(10))
    assert [round(t * 30, 6) for t, _ in out] == sorted(shuffled)
    in_order = [(k / 30, k) for k in range(10)]
    assert list(in_time_order(in_order, step=1 / 30)) == in_order  # a good stream passes unchanged


def test_a_clock_that_starts_again_continues_and_a_stamp_from_the_past_is_dropped():
    joined = [(0.0, "a"), (0.1, "b"), (5.0, "c"), (5.1, "d"), (0.0, "e"), (0.1, "f")]  # a second recording joined on
    assert [(round(t, 6), frame) for t, frame in in_time_order(joined, step=0.1, depth=2)] == [
        (0.0, "a"), (0.1, "b"), (5.0, "c"), (5.1, "d"), (5.2, "e"), (5.3, "f")]
    damaged = [(0.0, "a"), (0.1, "b"), (0.2, "c"), (0.3, "d"), (0.05, "stray"), (0.4, "e")]
    out = list(in_time_order(damaged, step=0.1, depth=1))
    assert [frame for _, frame in out if frame is not DROPPED] == ["a", "b", "c", "d", "e"]
    assert [round(t, 6) for t, frame in out if frame is DROPPED] == [0.05]  # one frame, counted by the caller
    alike = [(0.0, "a"), (0.1, "b"), (0.1, "c"), (0.2, "d")]
    assert [frame for _, frame in in_time_order(alike, step=0.1, depth=1)] == ["a", "b", "c", "d"]


def test_divx_packed_b_frames_come_every_one_in_order_at_its_time(tmp_path):
    # DivX/XviD AVIs carry each B-frame in the packet before its own: decoded as they are, FFmpeg stamps
    # the frames out of order (kombat dropped 43% of a real data set's frames and stamped the rest late).
    path = tmp_path / "divx.avi"
    marker, n_frames = 15, 40
    write_packed_avi(path, [marker_frame(k, bright=k == marker) for k in range(n_frames)])
    with av.open(str(path)) as container:  # the file really is packed: FFmpeg alone stamps out of order
        stream = container.streams.video[0]
        stamps = [frame.pts for packet in container.demux(stream) for frame in packet.decode()]
    assert len(stamps) == n_frames and stamps != sorted(stamps)
    with VideoReader(path) as reader:
        decoded = list(reader)
        assert reader.dropped == 0
    assert len(decoded) == n_frames
    assert max(abs(t - k / 30) for k, (t, _) in enumerate(decoded)) < 1e-3  # frame k at k / fps
    assert [bar_of(frame) for k, (_, frame) in enumerate(decoded) if k != marker] == [
        k for k in range(n_frames) if k != marker]  # each frame in its place
    bright = [tick for tick, _, frame in at_ticks(decoded, 0.1) if frame.mean() > 128]
    assert bright == [5]  # the marker (0.5 s) is the frame shown at tick 5
    capture = cv2.VideoCapture(str(path))  # OpenCV, frame after frame, sees as many
    n_read = 0
    while capture.read()[0]:
        n_read += 1
    capture.release()
    assert n_read == n_frames


def write_avi(path: Path, codec: str, n_frames: int, fps: int = 30, sound: bool = False) -> None:
    """An AVI of marker frames (frame k at k / fps): Motion JPEG, as many cameras and OpenCV's writer record,
    or MPEG-4 Part 2 with two B-frames between references (XviD's way, unpacked); with a silent PCM track
    interleaved when `sound`."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)  # stream 0: chunks 00dc, then the sound's 01wb
        audio = container.add_stream("pcm_s16le", rate=16000, layout="mono") if sound else None
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "mpeg4":
            stream.codec_context.max_b_frames = 2
            stream.codec_context.gop_size = 12
        for k in range(n_frames):
            frame = av.VideoFrame.from_ndarray(marker_frame(k), format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
            if audio is not None:
                silence = av.AudioFrame.from_ndarray(np.zeros((1, 16000 // fps), np.int16), format="s16", layout="mono")
                silence.sample_rate, silence.pts = 16000, k * (16000 // fps)
                for packet in audio.encode(silence):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_marker_avi(path: Path, kind: str, n_frames: int) -> None:
    if kind == "divx":
        write_packed_avi(path, [marker_frame(k) for k in range(n_frames)])
    else:
        write_avi(path, {"mjpeg": "mjpeg", "mpeg4_b_frames": "mpeg4"}[kind], n_frames)


def noise_over(path: Path, start: int, n_bytes: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:start + n_bytes] = np.random.default_rng(0).integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def misplaced(timed_frames) -> list[float]:
    """Times of the decoded marker frames that show another frame than the one at their time (30 fps)."""
    return [t for t, frame in timed_frames if frame is not None and bar_of(frame) != round(t * 30) % 40]


@pytest.mark.parametrize("kind", ["mjpeg", "divx", "mpeg4_b_frames"])
def test_an_avi_damaged_mid_stream_keeps_every_later_frame_at_its_time(tmp_path, kind):
    # FFmpeg reads an AVI chunk after chunk and numbers frames as it goes: past damage it skips to the
    # next chunk and every later frame came out early by the frames lost, its label off by as much.
    path, n_frames = tmp_path / f"{kind}.avi", 90  # 3 s at 30 fps; the bars repeat every 40 frames
    write_marker_avi(path, kind, n_frames)
    data = path.read_bytes()
    noise_over(path, (data.find(b"movi") + data.rfind(b"idx1")) // 2, 1500)  # halfway: a bad card sector

    with av.open(str(path)) as container:  # the damage is of that kind: read chunk after chunk, frames move
        stream = container.streams.video[0]
        in_file_order = []
        for packet in container.demux(stream):
            try:
                in_file_order += [(float(frame.pts * stream.time_base), frame.to_ndarray(format="bgr24"))
                                  for frame in stream.decode(packet)]
            except av.FFmpegError:
                pass
    assert len(misplaced(in_file_order)) > 20

    decoded = decode(path)
    lost = [t for t, frame in decoded if frame is None]
    assert 1 <= len(lost) <= 15  # the damaged frames, counted
    assert 1.0 < min(lost) and max(lost) < 2.0  # where they fall
    assert len(set(lost)) == len(lost)  # each at its own time (a B-frame stream's by its decoding time)
    assert not misplaced([(t, frame) for t, frame in decoded if t < min(lost)])
    after = [(t, frame) for t, frame in decoded if t > max(lost) + 0.1]  # a frame or two past the damage may
    assert len(after) > 20 and not misplaced(after)  # be decoded from a damaged one; past them, each in its place
    if kind == "mjpeg":  # every frame its own picture: all there, the damaged ones counted instead
        assert len(decoded) == n_frames and not misplaced(decoded)


@pytest.mark.parametrize("damage", ["noise", "cut", "sound named video"])
def test_an_avi_whose_index_is_damaged_reads_chunk_after_chunk_as_before(tmp_path, damage):
    # Read by an index cut short or garbled, every frame after a missing entry would come out early, and
    # one bit turning a sound chunk's entry (01wb) into a video one (00wb) makes every later frame late.
    # Such a file is read chunk after chunk, all its frames in place.
    path, n_frames = tmp_path / "cam.avi", 90
    write_avi(path, "mjpeg", n_frames, sound=True)
    data = path.read_bytes()
    index = data.rfind(b"idx1")
    middle = index + 8 + (len(data) - index - 8) // 2
    if damage == "noise":
        noise_over(path, middle, 256)
    elif damage == "cut":
        path.write_bytes(data[:middle])
    else:
        sound_entry = data.index(b"01wb", middle)
        path.write_bytes(data[:sound_entry] + b"00wb" + data[sound_entry + 4:])
    decoded = decode(path)
    assert len(decoded) == n_frames and not misplaced(decoded)
    assert all(frame is not None for _, frame in decoded)


def test_an_index_is_whole_when_it_lists_every_packet_found_chunk_after_chunk():
    whole = PacketPlaces({100: 50, 160: 40, 210: 60}, frozenset({150, 200}))
    assert index_is_whole(whole, whole)
    damaged = PacketPlaces({100: 50, 210: 60}, frozenset({150, 200}))  # chunk after chunk skipped 160's bytes
    assert index_is_whole(damaged, whole)
    assert not index_is_whole(whole, PacketPlaces({100: 50, 210: 60}, frozenset()))  # an entry lost
    assert not index_is_whole(whole, PacketPlaces({100: 50, 161: 40, 210: 60}, frozenset()))  # an entry moved
    assert not index_is_whole(whole, PacketPlaces({100: 50, 160: 39, 210: 60}, frozenset()))  # resized
    assert not index_is_whole(whole, PacketPlaces({100: 50, 150: 8, 160: 40, 210: 60}, frozenset()))  # sound as video
