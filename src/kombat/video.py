"""Video files decoded by FFmpeg (PyAV) in a worker process: every frame with its presentation time, upright.

Shared by extract, the labeller and play.py (the package stage copies this file beside play.py), so a
file's frames and times are the same in training and play. A frame's time is its timestamp, never
index / nominal fps: phones, browsers and many webcams write variable frame rate video. Decoding runs
in a child process, so a decoder that crashes natively on some file (OpenCV did, with SIGABRT) ends in
one VideoError naming the file instead of taking the caller down. Needs numpy and av only.
"""

from __future__ import annotations

import collections
import heapq
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Seconds: a frame stamped within this after a tick is shown at it. Matroska and WebM (OBS, browsers) keep
# milliseconds, so a 30 fps frame's time is rounded by up to half of one (frame 2 at 0.067 s, its tick 0.0667 s).
TIME_EPS = 1e-3


class VideoError(Exception):
    """A video file that cannot be decoded: one line naming the file and what is wrong."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int  # the container's frame count: an estimate (AVI and many MP4s promise more), 0 when it does not say
    duration: float  # seconds the container promises (its duration, or its count at its rate), 0 when it does not say
    fps: float  # the average frame rate the container states (0 when unknown): a hint, never used for times


# ---- which frame each tick sees: pure, shared by extract and play ------------------------------


def at_ticks(timed_frames: Iterable[tuple[float, np.ndarray]], interval: float | None
             ) -> Iterator[tuple[int, float, np.ndarray]]:
    """(tick, frame time, frame) for the frame shown at each tick time k * interval.

    A frame is shown from its time until the next frame's (the last one for as long as the one before
    it); so a 30-then-10 fps clip gets ticks at the right moments, and a frame shown across two ticks
    appears at both. `interval` None: every frame is a tick (the k-th frame is tick k).
    """
    tick, held, before = 0, None, None
    for t, frame in timed_frames:
        if interval is None:
            yield tick, t, frame
            tick += 1
            continue
        if held is not None:
            while tick * interval < t - TIME_EPS:
                yield tick, held[0], held[1]
                tick += 1
            before = held[0]
        held = (t, frame)
    if interval is not None and held is not None:
        end = last_shown(held[0], before, interval)
        while tick * interval < end - TIME_EPS:
            yield tick, held[0], held[1]
            tick += 1


def last_shown(last: float, before: float | None, interval: float) -> float:
    """When a stream stops showing its last frame (at `last`, the one before it at `before`): as long after
    it as the frames before it were apart (one tick for a lone frame, or two frames stamped alike)."""
    return last + (last - before if before is not None and last > before else interval)


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """The picture as a player shows it: `rotation` is the display matrix's angle (degrees counter-clockwise,
    PyAV's VideoFrame.rotation), how far the stored picture must turn to stand upright."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


# ---- timestamps in display order: pure, tested without files -----------------------------------

REORDER_FRAMES = 4  # frames: a decoder's output is put in time order within this many (its reorder delay)
RESTART_S = 1.0  # seconds: a timestamp this far before the latest one starts the stream's clock again
DROPPED = object()  # in place of a frame whose time cannot be placed (in_time_order)


def in_time_order(timed: Iterable[tuple[float, object]], step: float, depth: int = REORDER_FRAMES
                  ) -> Iterator[tuple[float, object]]:
    """The decoder's frames, (time, frame) in the order it outputs them, each at its display time.

    A decoder outputs frames in display order, but some streams carry their timestamps shuffled within
    the decoder's reorder delay (B-frames stamped by a muxer that did not know better): the frames keep
    their order and the times are sorted over the next `depth` frames. A timestamp that jumps back more
    than RESTART_S is a clock that started again (a joined recording): the times continue from the
    latest one, `step` after it. A frame that still lands before the last time given (a damaged stream)
    comes as (its time, DROPPED), for the caller to count; frames stamped alike are all kept.
    """
    times: list[float] = []  # a heap of the waiting frames' times
    frames: collections.deque = collections.deque()
    offset, latest, last_given = 0.0, None, None
    for t, frame in timed:
        if latest is not None and t + offset < latest - RESTART_S:
            offset = latest + step - t
        t += offset
        latest = t if latest is None else max(latest, t)
        if last_given is not None and t < last_given:
            yield t, DROPPED
            continue
        heapq.heappush(times, t)
        frames.append(frame)
        if len(frames) > depth:
            last_given = heapq.heappop(times)
            yield last_given, frames.popleft()
    while frames:
        yield heapq.heappop(times), frames.popleft()


# ---- the worker: runs in a child process -------------------------------------------------------


def _decode_into(path: str, transform: Callable[[np.ndarray], object] | None, send) -> None:
    """Send ('info', VideoInfo), then ('frame', time, image) per frame in display order (image None for a
    packet that failed to decode) and ('dropped', time) per frame whose time cannot be placed, then ('end',);
    or ('error', message) for a file FFmpeg refuses. Times count from the first frame."""
    import av
    from av.video.reformatter import VideoReformatter

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle: it closes the pipe
    try:
        try:
            container = _open(path)
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            send.send(("error", f"{path}: cannot be opened as a video (corrupt or not media): {_reason(exc)}"))
            return
        with container:
            if not container.streams.video:
                send.send(("error", f"{path}: has no video stream"))
                return
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            time_base = stream.time_base
            rate, count = float(stream.average_rate or 0), int(stream.frames or 0)
            # The video stream's longest promise: a cut AVI keeps its header's frame count while FFmpeg's
            # duration is estimated from what is left of the file. The container's duration (which counts
            # an audio track too) only when the stream states neither.
            duration = max(float(stream.duration * time_base) if stream.duration and time_base else 0.0,
                           count / rate if rate else 0.0) or (container.duration / 1e6 if container.duration else 0.0)
            send.send(("info", VideoInfo(count, duration, rate)))
            step = 1 / rate if rate else 1 / 30  # for a frame without a timestamp
            damaged: list[float] = []  # times of packets that failed to decode, sent in order with the frames
            # One converter for the whole file: frame.to_ndarray(format=...) builds FFmpeg's colour converter
            # anew for every frame, which costs 4x the conversion itself at 320x180 (the same bytes either way).
            to_bgr = VideoReformatter()

            def decoded() -> Iterator[tuple[float, object]]:
                """(time in seconds, frame) in the order the decoder outputs them."""
                t = None
                for packet in _packets(container, stream):
                    try:
                        frames = stream.decode(packet)
                    except av.FFmpegError:
                        # An AVI's B-frame stream gives a dts only: a decoding time, within the reorder delay
                        stamp = packet.pts if packet.pts is not None else packet.dts
                        damaged.append(float(stamp * time_base) if stamp is not None else (t or 0.0) + step)
                        continue
                    for frame in frames:
                        pts = frame.pts if frame.pts is not None else frame.dts
                        t = float(pts * time_base) if pts is not None else (0.0 if t is None else t + step)
                        yield t, frame

            origin = None  # the first frame's time (or a failed packet's before it): time 0
            for t, frame in in_time_order(decoded(), step):
                if origin is None:
                    origin = min([t, *damaged])
                for lost in sorted(x for x in damaged if x < t):
                    send.send(("frame", lost - origin, None))
                damaged[:] = [x for x in damaged if x >= t]
                if frame is DROPPED:
                    send.send(("dropped", t - origin))
                    continue
                image = upright(to_bgr.reformat(frame, format="bgr24").to_ndarray(), frame.rotation or 0)
                send.send(("frame", t - origin, transform(image) if transform else image))
            for lost in sorted(damaged):
                send.send(("frame", lost - (min(damaged) if origin is None else origin), None))
            send.send(("end", None))
    except BrokenPipeError:
        pass  # the reader stopped listening (it had what it wanted)
    except Exception as exc:  # one line for the caller, whatever the decoder or the transform raised
        send.send(("error", f"{path}: cannot be decoded: {type(exc).__name__}: {_reason(exc)}"))


BY_INDEX = {"fflags": "sortdts"}  # FFmpeg's AVI demuxer then reads each packet from its place in the index


def _open(path: str):
    """The container; an AVI read by its own index where that index is whole.

    FFmpeg reads an AVI's chunks one after the other and numbers the frames as it goes, so damage
    mid-stream, whose bytes it skips to the next chunk, moves every later frame earlier by the frames
    lost (with their labels). AVI writers keep an index of every chunk (idx1, or OpenDML's ix##
    chunks), and FFmpeg's `sortdts` flag reads by it, as it does itself for a badly interleaved file:
    each frame from its place in the index, with the time of that place, and a damaged frame fails to
    decode where it falls. The index is trusted only where it is whole (index_is_whole); an index cut
    short or garbled, which would number frames wrongly in its turn, leaves the file read chunk after
    chunk, as is a file without one.
    """
    import av

    container = av.open(path)
    if container.format.name != "avi" or not container.streams.video:
        return container
    with container:
        in_file_order = _packet_places(container)
    with av.open(path, options=BY_INDEX) as by_index:
        indexed = _packet_places(by_index)
    return av.open(path, options=BY_INDEX if index_is_whole(in_file_order, indexed) else None)


@dataclass(frozen=True)
class PacketPlaces:
    """Where a reading of a file finds its packets (byte offsets; nothing decoded)."""

    video: dict[int, int]  # offset -> size of each packet of the first video stream that holds data
    others: frozenset[int]  # offsets of the other streams' packets


def _packet_places(container) -> PacketPlaces:
    import av

    video_index = container.streams.video[0].index
    video, others = {}, set()
    try:
        for packet in container.demux():
            if not packet.size or packet.pos is None or packet.pos < 0:
                continue
            if packet.stream.index == video_index:
                video[packet.pos] = packet.size
            else:
                others.add(packet.pos)
    except av.FFmpegError:
        pass  # a read error ends the reading where it happens
    return PacketPlaces(video, frozenset(others))


def index_is_whole(in_file_order: PacketPlaces, indexed: PacketPlaces) -> bool:
    """Whether reading by the index finds every video packet that reading chunk after chunk finds, each at
    the same place with the same size, and no other stream's packet as video. An index entry cut off or
    garbled leaves a packet out or moves it (every later frame would be numbered wrongly) or names another
    stream's chunk as video. Damage mid-stream only makes the chunk-after-chunk reading find fewer."""
    return (all(indexed.video.get(offset) == size for offset, size in in_file_order.video.items())
            and not indexed.video.keys() & in_file_order.others)


def _packets(container, stream) -> Iterator:
    """The stream's packets, with DivX-style packed B-frames unpacked.

    DivX and some XviD writers store a B-frame inside the packet of the frame before it, with a
    placeholder packet in its place; the decoder copes, but the timestamps it gives the frames come out
    of order. FFmpeg's mpeg4_unpack_bframes filter (what FFmpeg itself recommends for such files) puts
    each frame in its own packet again, and passes every other MPEG-4 Part 2 stream through unchanged.
    """
    packets = container.demux(stream)
    if stream.codec_context.name != "mpeg4":
        yield from packets
        return
    from av.bitstream import BitStreamFilterContext

    unpack = BitStreamFilterContext("mpeg4_unpack_bframes", stream)
    for packet in packets:
        if packet.size:
            yield from unpack.filter(packet)
        else:  # the demuxer's last, empty packet: empty the filter, then let the decoder flush
            yield from unpack.filter(None)
            yield packet


def _reason(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()[0]


def _context():
    # forkserver: a clean child forked from a small server (no threads of the caller inherited), cheap
    # per file; spawn where the platform has no forkserver (Windows).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class VideoReader:
    """One video file's frames, decoded in a child process:

        with VideoReader(path) as video:
            for t, frame in video:   # t: seconds from the first frame; frame: BGR uint8, upright
                ...

    `transform` (a picklable function of the BGR frame) runs in the child, so large frames can be made
    small before they cross the pipe. A packet that fails to decode comes as (its time, None), so the
    caller counts it where it falls; a frame decoded out of time order (a damaged stream) is not yielded
    but counted in `dropped`, for the caller to report. `info` is the container's promise.
    """

    def __init__(self, path: Path | str, transform: Callable[[np.ndarray], object] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"{self.path}: no such video file")
        context = _context()
        self._receiver, sender = context.Pipe(duplex=False)
        self._worker = context.Process(target=_decode_into, args=(str(self.path), transform, sender), daemon=True)
        try:
            self._worker.start()
            sender.close()
            kind, payload = self._receive()
            if kind != "info":
                raise VideoError(payload)
        except BaseException:
            self.close()
            raise
        self.info: VideoInfo = payload
        self.dropped = 0  # frames decoded but out of time order (a damaged stream), so far: never shown

    def _receive(self):
        try:
            kind, *payload = self._receiver.recv()
        except EOFError:  # the child is gone without a word: it crashed inside the decoder
            self._worker.join(timeout=5)
            code = self._worker.exitcode
            how = f"exit code {code}"
            if code is not None and code < 0:
                how = f"signal {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"signal {-code}"
            raise VideoError(f"{self.path}: the video decoder crashed ({how}) reading this file") from None
        return kind, payload[0] if len(payload) == 1 else tuple(payload)

    def __iter__(self) -> Iterator[tuple[float, object]]:
        while True:
            kind, payload = self._receive()
            if kind == "frame":
                yield payload
            elif kind == "dropped":
                self.dropped += 1
            elif kind == "end":
                return
            else:
                raise VideoError(payload)

    def close(self) -> None:
        self._receiver.close()
        if self._worker.pid is None:
            return  # never started
        if self._worker.is_alive():
            self._worker.terminate()
        self._worker.join(timeout=5)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
