#!/usr/bin/env python3
"""Play MK.js (or any game) with your body: camera frames in, punch and kick key presses out.

This file is copied into models/package/ by the `package` stage, with frames.py (the training
frames' preprocessing), lite.py (the TFLite runner) and video.py (video files decoded with their
timestamps, as extract decodes them) beside it, and runs from there alone, with tensorflow (or the
TFLite runtime, ai-edge-litert), opencv-python and av; pynput only when it sends keys.

    python play.py                          # webcam 0, a decision every 100 ms, keys a/d
    python play.py --source clip.mp4 --json # a video file, one JSON line per decision
    python play.py --show --keys off        # watch the probabilities without pressing keys
    python play.py --web --game ../mk.js    # a browser page: MK.js, the browser's camera, the bars and actions

`--web` serves kombat's game page (web.py and web/ beside this file) on 127.0.0.1: the page takes the
camera with getUserMedia, sends each tick's frame here, and moves the fighter of MK.js (one-player
`basic` mode, served from the player's own MK.js checkout) through MK.js's API: no OS keys, no focus.

The rule is the article's: do nothing while "other" >= 0.4, else fire the strike whose probability
is >= 0.35 and above the other strike's, then wait a cooldown so one strike fires one action;
the probabilities are first averaged over the last few decisions (thresholds, cooldown,
smoothing and key map in play.json). `q`, Ctrl-C or the end of a video ends the game
with a summary: frames, actions, and the latency from frame to decision (p50/p95).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # before OpenCV loads: play's one-line errors say what its log would

if __package__:  # imported as kombat.play (kombat's own tests and tools)
    from kombat import frames, lite, pose, video
else:  # run as a script from a package folder, where the package stage put these beside it
    import frames
    import lite
    import pose
    import video

HERE = Path(__file__).resolve().parent
POSE_MODELS_DIR = "pose"  # in the package: BlazePose's two models, when the model sees pose (sha256 checked on load)
EMBEDDER_CHECK_FILE = "embedder_check.npz"  # in the package: the embed stage's check images and its embeddings of them
STALE_FRAMES = 5  # a webcam driver's queue (4 frames on V4L2), read past when the game starts
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # our one-line errors say what OpenCV's logs would


class PlayError(Exception):
    """A problem the player can fix; printed as one line."""


# ---- the decision: pure functions, tested without a camera ---------------------------------


@dataclass
class Rule:
    """The rule play.json states; its values (and what they mean) live in kombat's conf/, `play:`."""

    classes: list[str]  # the model's outputs, in order
    nothing: str  # the class that means "do nothing"
    nothing_threshold: float
    strike_threshold: float
    cooldown_s: float
    smoothing: int  # decide on the mean of the last N decisions' probabilities

    @classmethod
    def from_settings(cls, classes: list[str], settings: dict) -> Rule:
        """From play.json's keys (KeyError, TypeError or ValueError when one is missing or mangled)."""
        return cls(classes=list(classes), nothing=str(settings["nothing_class"]),
                   nothing_threshold=float(settings["nothing_threshold"]),
                   strike_threshold=float(settings["strike_threshold"]), cooldown_s=float(settings["cooldown_s"]),
                   smoothing=int(settings["smoothing"]))


def decide(probabilities: np.ndarray, rule: Rule) -> str | None:
    """The strike these probabilities call for, or None."""
    named = dict(zip(rule.classes, (float(p) for p in probabilities)))
    if named.get(rule.nothing, 0.0) >= rule.nothing_threshold:
        return None
    strikes = sorted(((p, name) for name, p in named.items() if name != rule.nothing), reverse=True)
    best_p, best = strikes[0]
    if best_p < rule.strike_threshold or (len(strikes) > 1 and strikes[1][0] >= best_p):
        return None
    return best


@dataclass
class Trigger:
    """One strike, one action: fire when a new strike is decided and the cooldown has passed."""

    cooldown_s: float
    last_fired: float = -math.inf
    previous: str | None = None

    def step(self, t: float, decision: str | None) -> str | None:
        fire = decision is not None and decision != self.previous and t - self.last_fired >= self.cooldown_s
        self.previous = decision
        if fire:
            self.last_fired = t
            return decision
        return None


class Ticker:
    """When to decide: on the first frame at or after each `interval` tick; on every frame with `every_frame`.
    `due(t)` says how many ticks have come since the last frame that had one (0: none). More than one means
    the frames came slower than the ticks: extract gives each of those ticks the frame shown then, the one
    before, again (video.at_ticks), and so does Decider."""

    def __init__(self, interval: float, every_frame: bool = False) -> None:
        self.interval, self.every_frame, self.next = interval, every_frame, 0.0

    def due(self, t: float) -> int:
        if self.every_frame:
            return 1
        if t + 1e-6 < self.next:
            return 0
        ticks = math.floor((t + 1e-6 - self.next) / self.interval) + 1
        self.next += self.interval * ticks
        return ticks


class Smoother:
    """The mean of the last `n` probability vectors: one odd frame does not fire a strike."""

    def __init__(self, n: int) -> None:
        self.recent: collections.deque = collections.deque(maxlen=max(1, n))

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        self.recent.append(probabilities)
        return np.mean(self.recent, axis=0)


@dataclass
class Stats:
    frames: int = 0
    dropped: int = 0  # frames of a video file decoded out of time order (a damaged stream): never shown
    decisions: int = 0
    held: int = 0  # decisions on a frame held over ticks that got no new frame (a camera slower than the ticks)
    skipped: int = 0  # ticks with no frame not decided: a window behind, or the computer behind (Decider)
    actions: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self, seconds: float) -> str:
        p50, p95 = (np.percentile(self.latencies_ms, [50, 95]) if self.latencies_ms else (math.nan, math.nan))
        fired = ", ".join(f"{k} {v}" for k, v in sorted(self.actions.items())) or "none"
        dropped = f" ({self.dropped} more out of time order, dropped)" if self.dropped else ""
        held = (f" ({self.held} on a frame held over ticks that got no new one: the camera was slower than the ticks)"
                if self.held else "")
        skipped = (f"; {self.skipped} ticks with no frame skipped (a stalled camera, or decisions slower than the ticks)"
                   if self.skipped else "")
        return (f"play: {self.frames} frames{dropped}, {self.decisions} decisions{held} in {seconds:.1f} s{skipped}; "
                f"actions: {fired}; latency frame->decision p50 {p50:.1f} ms, p95 {p95:.1f} ms")


class Decider:
    """One game's decisions, tick by tick: model frame -> probabilities -> smoothed -> rule -> trigger,
    counted in `stats`; the terminal loop and the web page's frames both go through it. `reset()` starts
    a new game (a reloaded page): nothing of the last one's frames, smoothing or cooldown is kept."""

    def __init__(self, predict, rule: Rule, frame_size: tuple[int, int], interval: float,
                 stats: Stats | None = None) -> None:
        self.predict, self.rule, self.frame_size, self.interval = predict, rule, frame_size, interval
        self.stats = stats or Stats()
        self.reset()

    def reset(self) -> None:
        self.smooth, self.trigger, self.held = Smoother(self.rule.smoothing), Trigger(self.rule.cooldown_s), None
        if hasattr(self.predict, "reset"):
            self.predict.reset()

    def __call__(self, t: float, frame_bgr: np.ndarray, held_ticks: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, str | None]:
        """(probabilities, smoothed probabilities, action or None) for the frame shown at time t. `held_ticks`:
        ticks that came before it with no new frame (Ticker.due - 1). Each is decided first, on the frame
        shown then (the last one, held), as extract gives such ticks the held frame: a camera slower than
        the ticks keeps the window's span and motion steps of training. They are counted as skipped instead
        beyond a window of them (the model forgets the rest), with no frame held yet, and while the last
        decision took longer than a tick (the computer, not the camera, is behind: catching up would only
        put it further behind). One action at most: a held tick's, unless this frame's tick fires."""
        begun = time.perf_counter()
        fired = None
        if held_ticks > 0:
            window = getattr(self.predict, "window", held_ticks)
            keeping_up = self.stats.latencies_ms and self.stats.latencies_ms[-1] <= self.interval * 1000
            replayed = min(held_ticks, window) if self.held is not None and keeping_up else 0
            self.stats.skipped += held_ticks - replayed
            self.stats.held += replayed
            for back in range(replayed, 0, -1):
                fired = self._tick(t - back * self.interval, self.held)[2] or fired
        probabilities, smoothed, action = self._tick(t, frame_bgr)
        self.held = frame_bgr
        self.stats.latencies_ms.append((time.perf_counter() - begun) * 1000)
        action = action or fired
        if action:
            self.stats.actions[action] = self.stats.actions.get(action, 0) + 1
        return probabilities, smoothed, action

    def _tick(self, t: float, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
        probabilities = self.predict(frames.to_model_frame(frame_bgr, *self.frame_size), frame_bgr)
        smoothed = self.smooth(probabilities)
        self.stats.decisions += 1
        return probabilities, smoothed, self.trigger.step(t, decide(smoothed, self.rule))

    def json_line(self, t: float, probabilities: np.ndarray, smoothed: np.ndarray, action: str | None) -> dict:
        """What --json prints for a decision."""
        line = {"t": round(t, 3), "probabilities": rounded(self.rule.classes, probabilities)}
        if self.rule.smoothing > 1:
            line["smoothed"] = rounded(self.rule.classes, smoothed)
        return {**line, "action": action}


# ---- the package: settings and model -------------------------------------------------------


def read_settings(path: Path) -> dict:
    """play.json: thresholds, cooldown, smoothing and key map."""
    if not path.is_file():
        raise PlayError(f"{path}: not found (is this a kombat package folder?)")
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlayError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(settings, dict):
        raise PlayError(f"{path}: expected a JSON object")
    return settings


class TickModel:
    """One decision per tick: the model frame -> its input images (the frame, and/or its motion or flow
    image against the frame `motion_gap` ticks before) -> their embeddings -> the window of the last
    `window` ticks -> probabilities. Ring buffers, so each frame is embedded once; until they fill
    (the first ticks), the first frame stands in for the missing ones, as in training. The pose input is
    BlazePose's landmarks of the full-size camera frame (`frame_bgr`), tracked from tick to tick
    (`find_pose`: pose.FramePose), as pose features; given no full frame it looks at the model frame."""

    def __init__(self, embed, head, inputs: list[str], window: int, motion_gap: int, gains: dict[str, float],
                 find_pose=None) -> None:
        self.embed, self.head, self.inputs, self.gains = embed, head, list(inputs), dict(gains)
        self.find_pose = find_pose
        self.recent_frames: collections.deque = collections.deque(maxlen=motion_gap + 1)
        self.recent_embeddings: collections.deque = collections.deque(maxlen=window)

    @property
    def window(self) -> int:
        return self.recent_embeddings.maxlen

    def reset(self) -> None:
        """A new game: the next frame is the first (no motion against the last game's, no window of it)."""
        self.recent_frames.clear()
        self.recent_embeddings.clear()
        if self.find_pose is not None:
            self.find_pose.reset()

    def features(self, kind: str, model_frame: np.ndarray, frame_bgr: np.ndarray | None) -> np.ndarray:
        if kind == "pose":
            import cv2

            full = frame_bgr if frame_bgr is not None else cv2.cvtColor(model_frame, cv2.COLOR_RGB2BGR)
            return pose.pose_features(self.find_pose(full))
        return self.embed(frames.input_image(kind, self.recent_frames[0], model_frame, self.gains.get(kind, 1.0)))

    def __call__(self, model_frame: np.ndarray, frame_bgr: np.ndarray | None = None) -> np.ndarray:
        self.recent_frames.append(model_frame)
        self.recent_embeddings.append(np.concatenate([self.features(kind, model_frame, frame_bgr)
                                                      for kind in self.inputs]))
        recent = list(self.recent_embeddings)
        window = [recent[0]] * (self.recent_embeddings.maxlen - len(recent)) + recent
        return self.head(np.stack(window).astype(np.float32))


def load_model(package: Path, backend: str, labels: dict, check: bool = True) -> TickModel:
    """The package's embedder and head on `backend`, as a TickModel. A quantized embedder (int8, float16) exists
    only as TFLite, so the keras backend runs it there: Keras's float32 would give numbers the head never saw.
    With `check`, the embedder is first checked on this runtime (check_embedder; a package from before
    embedder_check.npz, whose labels.json has no embedder_tolerance, is not)."""
    def path(name: str, suffix: str) -> Path:
        found = package / f"{name}.{suffix}"
        if not found.is_file():
            raise PlayError(f"{found}: model not found (run `dvc repro package`, or pass --package)")
        return found

    suffix = "tflite" if backend == "tflite" else "keras"
    quantized = labels.get("embedder_precision", "float32") != "float32"
    embedder_path, head_path = path("embedder", "tflite" if quantized else suffix), path("head", suffix)
    find_pose = None
    if "pose" in labels["inputs"]:
        width, height = labels["frame_size"]
        models = package / POSE_MODELS_DIR
        for name in ("detector", "landmarks"):
            try:
                pose.model_path(models, name)
            except pose.PoseModelError as exc:
                raise PlayError(str(exc)) from None
        find_pose = pose.FramePose(models, int(labels["pose_people"]), (int(width), int(height)))
    if backend == "keras":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        def as_function(model_path: Path):
            model = keras.models.load_model(model_path)
            graph = tf.function(lambda x: model(x, training=False))  # eager calls are 5x slower
            return lambda x: graph(x[None]).numpy()[0]

        embed = lite.LiteModel(model_path=embedder_path) if quantized else as_function(embedder_path)
        head = as_function(head_path)
    else:
        embed, head = lite.LiteModel(model_path=embedder_path), lite.LiteModel(model_path=head_path)
    if check and "embedder_tolerance" in labels:
        try:
            tolerance = float(labels["embedder_tolerance"])
        except (TypeError, ValueError):
            raise PlayError(f"{package / 'labels.json'}: embedder_tolerance {labels['embedder_tolerance']!r} "
                            "is not a number") from None
        check_embedder(package / EMBEDDER_CHECK_FILE, embed, tolerance)
    return TickModel(embed, head, labels["inputs"], int(labels["window"]), int(labels["motion_gap"]),
                     {kind: float(gain) for kind, gain in labels["gains"].items()}, find_pose)


def check_embedder(path: Path, embed, tolerance: float) -> float:
    """Does this runtime give the numbers the head learned from? The embed stage's check images through `embed`,
    against that stage's embeddings of them: refused beyond `tolerance` of their largest value (an int8 embedder
    run by other kernels than the stage's gives other numbers: docs/embedding.md). Returns the difference found."""
    if not path.is_file():
        raise PlayError(f"{path}: not found (the embedder's check; run `dvc repro package`)")
    try:
        with np.load(path) as check:
            images, expected = check["images"], check["embeddings"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise PlayError(f"{path}: not a check file of images and embeddings ({exc})") from None
    if images.ndim != 4 or images.dtype != np.uint8 or expected.ndim != 2:
        raise PlayError(f"{path}: expected uint8 images (N, H, W, 3) and embeddings (N, C), found "
                        f"{images.dtype} {images.shape} and {expected.dtype} {expected.shape}")
    if not len(images) or len(images) != len(expected):
        raise PlayError(f"{path}: {len(images)} images but {len(expected)} embeddings")
    try:
        got = np.stack([np.asarray(embed(image), np.float32).reshape(-1) for image in images])
    except ValueError as exc:  # LiteRT and Keras say so for an input of another shape
        raise PlayError(f"{path}: its images of shape {images.shape[1:]} do not fit the embedder: "
                        f"{str(exc).splitlines()[0][:200]}") from None
    if got.shape != expected.shape:
        raise PlayError(f"{path}: the embedder gives embeddings of shape {got.shape}, the check holds {expected.shape}")
    found = float(np.abs(got - expected).max() / max(float(np.abs(expected).max()), 1e-30))
    if found > tolerance:
        raise PlayError(f"{path}: here the embedder gives the check images' embeddings {found:.1e} of their largest "
                        f"value away from the ones the head learned from (allowed: {tolerance:g}): this runtime "
                        "computes other numbers than the embed stage's; play with --backend tflite on ai-edge-litert "
                        "(XNNPACK), or package a float32 run")
    return found


# ---- the edges: camera or video, keys, window ----------------------------------------------


def camera_frames(index: int, interval: float, every_frame: bool, stats: Stats) -> Camera:
    """(time since start, BGR frame, ticks due: Ticker.due) from a webcam, read with OpenCV: a decision on
    the first frame at or after every `interval` tick of the wall clock. The camera is opened at once (a
    missing camera is the first thing to say); its frames are read only once the model is loaded."""
    import cv2

    capture = cv2.VideoCapture(index)
    ok = capture.read()[0] if capture.isOpened() else False
    if not ok:
        capture.release()
        raise PlayError(f"camera {index}: cannot be opened (no camera, or it is busy)")
    return Camera(capture, Ticker(interval, every_frame), stats)


class Camera:
    """An opened webcam's frames (see camera_frames); close() releases it, read or not."""

    def __init__(self, capture, ticker: Ticker, stats: Stats) -> None:
        self.capture, self.ticker, self.stats = capture, ticker, stats

    def __iter__(self) -> Iterator[tuple[float, np.ndarray | None, int]]:
        for _ in range(STALE_FRAMES):  # taken while the model loaded: seconds old, they would read as motion
            self.capture.grab()
        started = time.monotonic()
        ok, frame = self.capture.read()
        while ok:
            t = time.monotonic() - started
            self.stats.frames += 1
            yield t, frame, self.ticker.due(t)
            ok, frame = self.capture.read()

    def close(self) -> None:
        self.capture.release()


def file_frames(path: str, interval: float, every_frame: bool, stats: Stats
                ) -> Iterator[tuple[float, np.ndarray | None, int]]:
    """(frame time, BGR frame, 1) for the frame shown at every `interval` tick of a video file, by its
    timestamps, exactly as extract picks training frames (video.at_ticks: a frame shown across ticks comes
    at each); every frame with `every_frame`."""
    def counted(reader):
        for timed_frame in reader:
            stats.frames, stats.dropped = stats.frames + 1, reader.dropped
            yield timed_frame

    try:
        with video.VideoReader(path) as reader:
            for _, t, frame in video.at_ticks(counted(reader), None if every_frame else interval):
                yield t, frame, int(frame is not None)  # a frame that failed to decode: no decision
            stats.dropped = reader.dropped  # and those after the last frame shown
            if not stats.frames:
                raise PlayError(f"{path}: not a readable video (no frames)")
    except video.VideoError as exc:
        raise PlayError(str(exc)) from None


class KeySender:
    """Presses the mapped key for each action, with pynput (X11, Windows or macOS)."""

    def __init__(self, key_map: dict[str, str]) -> None:
        try:
            from pynput.keyboard import Controller
        except Exception as exc:  # pynput raises ImportError-like errors without a display
            raise PlayError(f"cannot send keys ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                            "install pynput and run in a desktop session, or pass --keys off") from None
        self.keyboard, self.key_map = Controller(), key_map

    def send(self, action: str) -> None:
        key = self.key_map.get(action)
        if key:
            self.keyboard.press(key)
            time.sleep(0.03)  # games poll keys; a press this short still lands in one frame
            self.keyboard.release(key)


def draw(frame_bgr, classes, probabilities, action, fps):
    import cv2

    canvas = frame_bgr.copy()
    for i, (name, p) in enumerate(zip(classes, probabilities)):
        y = 20 + 22 * i
        cv2.rectangle(canvas, (10, y - 12), (10 + int(150 * p), y + 4), (0, 200, 255), -1)
        cv2.putText(canvas, f"{name} {p:.2f}", (12, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    cv2.putText(canvas, f"{action or ''}  {fps:.0f} fps", (10, canvas.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX,
                0.7, (0, 0, 255), 2)
    return canvas


# ---- the loop --------------------------------------------------------------------------------


@dataclass
class Player:
    """A package read and checked: its settings, rule, tick interval, frame size and labels."""

    settings: dict
    labels: dict
    rule: Rule
    interval: float
    frame_size: tuple[int, int]


def read_player(package: Path, interval: float | None) -> Player:
    """play.json and labels.json, checked; `interval` None: play.json's."""
    settings = read_settings(package / "play.json")
    from_args = interval is not None
    labels_path = package / "labels.json"
    if not labels_path.is_file():
        raise PlayError(f"{labels_path}: not found (is this a kombat package folder?)")
    try:
        labels = json.loads(labels_path.read_text())
        width, height = labels["frame_size"]
        rule = Rule.from_settings(labels["classes"], settings)
        interval = float(interval if interval is not None else settings["interval_s"])
        for key in ("inputs", "window", "motion_gap", "gains"):
            labels[key]
    except (KeyError, TypeError, ValueError) as exc:
        raise PlayError(f"{package}: labels.json or play.json lacks or mangles {exc}") from None
    where = "--interval" if from_args else f"{package / 'play.json'}: interval_s"
    if not (math.isfinite(interval) and interval > 0):  # no tick would ever come: the loop would spin
        raise PlayError(f"{where} is {interval:g}: seconds between decisions must be a number above 0 (0.1: 10 a second)")
    tick = learned_tick(labels)
    if tick and abs(interval - tick) > 1e-6:
        raise PlayError(f"{where} is {interval:g} s, but the model learned from ticks {tick:g} s apart: its window "
                        f"and motion would see every move at another speed (decide every {tick:g} s)")
    return Player(settings, labels, rule, interval, (int(width), int(height)))


def learned_tick(labels: dict) -> float | None:
    """The seconds between the ticks the model learned from, where it looks across ticks (a window of them, or
    motion or flow against the tick before), else None: a still frame's model decides at any pace. None too
    for a package from before labels.json said (tick_s)."""
    across = int(labels.get("window", 1)) > 1 or any(kind in ("motion", "flow") for kind in labels.get("inputs", []))
    return float(labels["tick_s"]) if across and "tick_s" in labels else None


def no_display() -> bool:
    """True where --show's window cannot open (kombat.screen's check: play.py stands alone). On Linux OpenCV's
    Qt aborts the process when there is no X or Wayland display, unless QT_QPA_PLATFORM names another."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")  # offscreen, vnc, ...: no display needed; xcb, wayland: one is
    return (sys.platform.startswith("linux") and not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY"))
            and (not platform or platform.startswith(("xcb", "wayland"))))


def play(args: argparse.Namespace) -> Stats:
    import cv2

    if args.show and no_display():
        raise PlayError("--show: no display to open its window on (DISPLAY is not set): run it in a desktop "
                        "session, or leave out --show")
    player = read_player(args.package, args.interval)
    if args.every_frame and learned_tick(player.labels):
        print(f"play: note: --every-frame decides on every frame, not every {learned_tick(player.labels):g} s as the "
              "model learned: for timing the model, not for playing", file=sys.stderr)
    camera = args.source.isdigit()
    if not camera and not Path(args.source).is_file():
        raise PlayError(f"{args.source}: no such video file")
    stats = Stats()
    ticks = (camera_frames(int(args.source), player.interval, args.every_frame, stats) if camera else
             file_frames(args.source, player.interval, args.every_frame, stats))
    try:
        keys = (KeySender(player.settings.get("keys", {})) if args.keys == "on" or (args.keys == "auto" and camera)
                else None)
        decider = Decider(load_model(args.package, args.backend, player.labels), player.rule, player.frame_size,
                          player.interval, stats)
    except BaseException:
        ticks.close()
        raise
    started, shown = time.monotonic(), time.monotonic()
    probabilities, action = np.zeros(len(player.rule.classes)), None
    try:
        for t, frame, due in ticks:
            if due:
                probabilities, smoothed, action = decider(t, frame, held_ticks=due - 1)
                if action and keys:
                    keys.send(action)
                if args.json:
                    print(json.dumps(decider.json_line(t, probabilities, smoothed, action)), flush=True)
            if args.show and frame is not None:
                now = time.monotonic()
                cv2.imshow("kombat", draw(frame, player.rule.classes, probabilities, action, 1 / max(now - shown, 1e-6)))
                shown = now
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
    except KeyboardInterrupt:
        pass
    finally:
        ticks.close()
        if args.show:
            cv2.destroyAllWindows()
        if stats.frames:
            print(stats.summary(time.monotonic() - started), file=sys.stderr if args.json else sys.stdout)
    return stats


def play_web(args: argparse.Namespace) -> Stats:
    """The game page (web.py): the port first (the commonest problem), then the model, then serve until Ctrl-C."""
    if __package__:
        from kombat import web
    else:
        import web

    terminal_only = [flag for flag, given in (("--source", args.source != "0"), ("--show", args.show),
                                              ("--keys", args.keys != "auto"), ("--every-frame", args.every_frame))
                     if given]
    if terminal_only:
        raise PlayError(f"--web decides on the browser's camera at each tick and moves MK.js itself: "
                        f"{', '.join(terminal_only)} belong to the terminal mode")
    player = read_player(args.package, args.interval)
    info = sys.stderr if args.json else sys.stdout
    page = {"classes": player.rule.classes, "keys": player.settings.get("keys", {}), "interval_s": player.interval}
    try:
        server = web.GameServer(args.port, page, args.game)
    except web.WebError as exc:
        raise PlayError(str(exc)) from None
    try:
        decider = Decider(load_model(args.package, args.backend, player.labels), player.rule, player.frame_size,
                          player.interval)
    except BaseException:
        server.server_close()
        raise
    playing = {"game": None}

    def decide_frame(t: float, frame_bgr: np.ndarray, game: str, ticks: int) -> dict:
        if game != playing["game"]:  # a page loaded (or reloaded): its clock starts at 0, its fight anew
            decider.reset()
            playing["game"] = game
        decider.stats.frames += 1
        line = decider.json_line(t, *decider(t, frame_bgr, held_ticks=ticks - 1))
        if args.json:
            print(json.dumps(line), flush=True)
        return {**line, "decision_ms": round(decider.stats.latencies_ms[-1], 2)}

    if server.game is None:
        print(f"play: note: {server.page_config['game']['problem']}", file=info)
    print(f"play: the game page is at {server.address} (Ctrl-C ends)", file=info, flush=True)
    started = time.monotonic()
    server.run(decide_frame, open_browser=not args.no_open)
    if decider.stats.frames:
        print(decider.stats.summary(time.monotonic() - started), file=info)
    return decider.stats


def rounded(classes: list[str], probabilities: np.ndarray) -> dict[str, float]:
    return dict(zip(classes, np.round(probabilities.astype(float), 4).tolist()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="0", help="webcam index (0) or a video file (default: 0)")
    parser.add_argument("--package", type=Path, default=HERE, help="the package folder (default: this file's)")
    parser.add_argument("--backend", choices=["tflite", "keras"], default="tflite", help="default: tflite")
    parser.add_argument("--interval", type=float, default=None, help="seconds between decisions (play.json: 0.1)")
    parser.add_argument("--every-frame", action="store_true", help="decide on every frame")
    parser.add_argument("--keys", choices=["auto", "on", "off"], default="auto",
                        help="send key presses: auto = for a camera, not for a video file")
    parser.add_argument("--json", action="store_true", help="one JSON line per decision on stdout")
    parser.add_argument("--show", action="store_true", help="a window with the frame, probabilities and action")
    web = parser.add_argument_group("the game page (--web): MK.js and the browser's camera, no OS keys")
    web.add_argument("--web", action="store_true", help="serve the game page on 127.0.0.1 and open it")
    web.add_argument("--game", type=Path, default=os.environ.get("MKJS_DIR") or None,
                     help="your MK.js checkout (git clone https://github.com/mgechev/mk.js; default: $MKJS_DIR)")
    web.add_argument("--port", type=int, default=8765, help="default: 8765 (0: any free port)")
    web.add_argument("--no-open", action="store_true", help="print the page's address, do not open a browser")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        play_web(args) if args.web else play(args)
    except PlayError as exc:
        print(f"play: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        if not args.json:
            raise
        # the reader of --json's lines stopped reading (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # else Python's flush at exit raises again
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
