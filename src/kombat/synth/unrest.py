"""What moves in a place besides the fighter: a hand-held camera, a swaying plant or branch, people
walking by behind, flickering light. Real footage has it and frame differences light up all of it.

`Unrest` holds the knobs (data.synth); `plan_unrest` draws one clip's tracks from the clip's seed,
each disturbance from its own stream, so turning one knob never changes what another one draws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from kombat.synth.body import Actor, Limb, Pose, make_actor

REFERENCE_WIDTH = 320  # `shake` is in pixels of a frame this wide
STREAM = 0x5EED  # one more entropy word: these streams never meet the clip's own generator
SHIFT = 4  # sub-pixel precision for OpenCV drawing
ONE = 1 << SHIFT


@dataclass(frozen=True)
class Unrest:
    """How restless a clip's place is; all zero: the calm studio of the default data."""

    shake: float = 0.0  # camera wander, RMS pixels at a 320-px-wide frame, plus a third of it in per-frame jitter
    sway_rate: float = 0.0  # share of clips with a swaying hanging plant or branch behind the fighter
    passerby_rate: float = 0.0  # share of clips where people walk across behind the fighter
    flicker: float = 0.0  # fast lighting flicker: brightness moves within 1 +- flicker, frame to frame

    @property
    def calm(self) -> bool:
        return not (self.shake or self.sway_rate or self.passerby_rate or self.flicker)


@dataclass(frozen=True)
class Swayer:
    """A hanging plant on a cord from the ceiling, or a branch reaching in from one side."""

    kind: str  # "hanging" or "branch"
    anchor: tuple[float, float]  # pixel it swings about
    length: float  # pixels from the anchor to the pot, or along the branch
    rest: float  # degrees from straight down at rest (a branch points sideways)
    amplitude: float  # degrees of swing
    period: float  # seconds
    gust_period: float  # seconds: the wind rises and falls
    phase: float
    leaves: np.ndarray  # (k, 5): place along (0..1), side angle deg, length px, flutter phase, flutter rate Hz
    leaf_colour: tuple[int, int, int]
    stem_colour: tuple[int, int, int]

    def angle(self, t: float) -> float:
        gust = 0.65 + 0.35 * np.sin(2 * np.pi * t / self.gust_period + self.phase * 1.7)
        return self.rest + self.amplitude * gust * np.sin(2 * np.pi * t / self.period + self.phase)


@dataclass(frozen=True)
class Crossing:
    """One person walking across the room behind the fighter, edge to edge."""

    actor: Actor
    start: float  # seconds into the clip
    seconds: float  # until they are out of the frame again
    speed: float  # pixels per second
    direction: float  # +1 walks to the right
    scale: float  # pixels per body unit: smaller than the fighter, further away
    ground_y: float  # pixel row of their feet
    margin: float  # pixels beyond each edge where they start and end

    def x(self, t: float, width: int) -> float:
        travelled = (t - self.start) * self.speed
        return -self.margin + travelled if self.direction > 0 else width + self.margin - travelled


@dataclass(frozen=True)
class UnrestPlan:
    """One clip's disturbances, per frame where they change from frame to frame."""

    fps: int
    shake: np.ndarray | None  # (frames, 3): dx px, dy px, degrees of roll; None: a camera on a tripod
    zoom: float  # a shaking camera is cropped in a little, so its frame edges rarely show
    light: np.ndarray | None  # (frames,) brightness factor; None: no flicker
    swayer: Swayer | None
    crossings: tuple[Crossing, ...]

    def frame(self, t: float) -> int:
        return int(round(t * self.fps))


def _wander(rng: np.random.Generator, times: np.ndarray, rms: float) -> np.ndarray:
    """Smooth random drift: a few slow sines (0.1-1.5 Hz, more of the slower ones) with RMS `rms`."""
    rates = np.exp(rng.uniform(np.log(0.1), np.log(1.5), size=4))
    weights = rates ** -0.5
    phases = rng.uniform(0, 2 * np.pi, size=4)
    track = (weights[:, None] * np.sin(2 * np.pi * rates[:, None] * times + phases[:, None])).sum(axis=0)
    return track * rms / np.sqrt((weights**2).sum() / 2)


def _shake(rng: np.random.Generator, times: np.ndarray, pixels: float) -> np.ndarray:
    jitter = rng.standard_normal((len(times), 3)) * pixels / 3
    shake = np.stack([_wander(rng, times, pixels), _wander(rng, times, pixels), _wander(rng, times, 0.08 * pixels)], 1)
    shake[:, 2] += jitter[:, 2] * 0.08
    shake[:, :2] += jitter[:, :2]
    return shake


def _light(rng: np.random.Generator, times: np.ndarray, amplitude: float) -> np.ndarray:
    """A beating mains light (aliased to a few Hz at webcam rates) and a bulb that stutters frame to frame."""
    beat = np.sin(2 * np.pi * rng.uniform(2.0, 9.0) * times + rng.uniform(0, 2 * np.pi))
    stutter = rng.uniform(-1, 1, size=len(times))
    dips = np.where(rng.random(len(times)) < 0.04, -1.0, 0.0)  # now and then a sharp drop
    return 1 + amplitude * np.clip(0.5 * beat + 0.5 * stutter + dips, -1, 1)


def _swayer(rng: np.random.Generator, width: int, height: int) -> Swayer:
    green = (int(rng.integers(30, 90)), int(rng.integers(80, 160)), int(rng.integers(25, 80)))
    if rng.random() < 0.5:
        length = height * rng.uniform(0.25, 0.45)
        count = int(rng.integers(7, 12))
        leaves = np.stack([np.full(count, 1.0), rng.uniform(-80, 80, count), rng.uniform(0.25, 0.45, count) * length,
                           rng.uniform(0, 2 * np.pi, count), rng.uniform(0.5, 1.5, count)], 1)
        return Swayer("hanging", (width * rng.uniform(0.1, 0.9), 0.0), length, 0.0, rng.uniform(8, 22),
                      rng.uniform(1.4, 3.0), rng.uniform(5, 12), rng.uniform(0, 2 * np.pi), leaves, green,
                      (int(rng.integers(60, 140)),) * 3)
    side = 1 if rng.random() < 0.5 else -1  # 1: grows in from the left edge
    length = width * rng.uniform(0.2, 0.38)
    count = int(rng.integers(8, 15))
    leaves = np.stack([rng.uniform(0.25, 1.0, count), rng.choice([-1, 1], count) * rng.uniform(25, 60, count),
                       rng.uniform(0.1, 0.18, count) * length, rng.uniform(0, 2 * np.pi, count),
                       rng.uniform(1.0, 3.0, count)], 1)
    rest = side * rng.uniform(65, 100)  # sideways into the frame, a little up or down
    return Swayer("branch", (0.0 if side > 0 else float(width), height * rng.uniform(0.1, 0.45)), length, rest,
                  rng.uniform(3, 8), rng.uniform(0.8, 2.0), rng.uniform(4, 9), rng.uniform(0, 2 * np.pi), leaves, green,
                  (int(rng.integers(50, 90)), int(rng.integers(35, 60)), int(rng.integers(20, 40))))


def _crossings(rng: np.random.Generator, width: int, height: int, seconds: float) -> tuple[Crossing, ...]:
    crossings = []
    t = rng.uniform(-1.0, 3.0)
    while t < seconds:
        scale = height * rng.uniform(0.4, 0.6)
        margin = 0.35 * scale
        speed = scale * rng.uniform(0.6, 1.0)  # px/s: about 1 to 1.7 body heights per second
        duration = (width + 2 * margin) / speed
        person = make_actor("passerby", int(rng.integers(2**31)))
        person = replace(person, looks=replace(person.looks, shirt_texture="plain"))  # out of focus anyway; cheaper
        crossings.append(Crossing(person, t, duration, speed,
                                  1.0 if rng.random() < 0.5 else -1.0, scale, height * rng.uniform(0.72, 0.86), margin))
        t += duration + rng.uniform(0.5, 5.0)
    return tuple(crossings)


def plan_unrest(seed: int, unrest: Unrest, width: int, height: int, frames: int, fps: int) -> UnrestPlan:
    """Every disturbance of one clip, drawn from the clip's seed."""
    shake_rng, light_rng, sway_rng, walk_rng = (np.random.default_rng((seed, STREAM, k)) for k in range(4))
    times = np.arange(frames) / fps
    shake, zoom = None, 1.0
    if unrest.shake > 0:
        shake = _shake(shake_rng, times, unrest.shake * width / REFERENCE_WIDTH)
        zoom = 1 + 2 * float(np.quantile(np.abs(shake[:, :2]), 0.95)) / min(width, height) if frames else 1.0
    light = _light(light_rng, times, unrest.flicker) if unrest.flicker > 0 else None
    swayer = _swayer(sway_rng, width, height) if sway_rng.random() < unrest.sway_rate else None
    crossings = _crossings(walk_rng, width, height, frames / fps) if walk_rng.random() < unrest.passerby_rate else ()
    return UnrestPlan(fps, shake, zoom, light, swayer, crossings)


def walk_pose(crossing: Crossing, t: float) -> Pose:
    """A walking stride: legs and arms swing in opposition, a knee bends as its leg swings through."""
    stride = 0.8  # body units per full cycle of two steps
    phase = 2 * np.pi * (t - crossing.start) * crossing.speed / crossing.scale / stride
    swing = np.sin(phase)
    return Pose(
        lean=3.0,
        lead_leg=Limb(24 * swing, 8 + 22 * max(0.0, np.cos(phase))),
        rear_leg=Limb(-24 * swing, 8 + 22 * max(0.0, -np.cos(phase))),
        lead_arm=Limb(-20 * swing, 18),
        rear_arm=Limb(20 * swing, 18),
        drop=0.01 * (1 - np.cos(2 * phase)) / 2,
    )


def draw_swayer(swayer: Swayer, t: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The swaying thing at time t, slightly out of focus: premultiplied RGB (float) and coverage (0..1)."""
    width, height = size
    canvas = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    angle = np.deg2rad(swayer.angle(t))
    along = np.array([np.sin(angle), np.cos(angle)])
    anchor = np.array(swayer.anchor)
    tip = anchor + along * swayer.length

    def line(p: np.ndarray, q: np.ndarray, colour: tuple[int, ...], thickness: int) -> None:
        for target, c in ((canvas, colour), (mask, (255,))):
            cv2.line(target, _fixed(p), _fixed(q), c, thickness, cv2.LINE_AA, SHIFT)

    def leaf(base: np.ndarray, degrees: float, length: float, colour: tuple[int, ...]) -> None:
        a = np.deg2rad(degrees)
        centre = base + np.array([np.sin(a), np.cos(a)]) * length / 2
        axes = (int(length / 2 * ONE), int(max(1.0, length / 5) * ONE))
        for target, c in ((canvas, colour), (mask, (255,))):
            cv2.ellipse(target, _fixed(centre), axes, 90 - degrees, 0, 360, c, -1, cv2.LINE_AA, SHIFT)

    stem = 1 if swayer.kind == "hanging" else max(1, int(round(width / 160)))
    line(anchor, tip, swayer.stem_colour, stem)
    base_degrees = np.rad2deg(angle)
    for k, (place, side, length, phase, rate) in enumerate(swayer.leaves):
        flutter = 12 * np.sin(2 * np.pi * rate * t + phase)
        shade = 0.75 + 0.5 * (k % 3) / 2
        colour = tuple(int(min(255, c * shade)) for c in swayer.leaf_colour)
        leaf(anchor + along * swayer.length * place, base_degrees + side + flutter, length, colour)
    if swayer.kind == "hanging":  # a pot in front of the leaves spilling from it
        pot = tuple(int(c) for c in np.clip(np.array(swayer.stem_colour) * 1.4, 0, 255))
        radius = swayer.length * 0.14
        for target, c in ((canvas, pot), (mask, (255,))):
            cv2.circle(target, _fixed(tip + along * radius * 0.5), int(radius * ONE), c, -1, cv2.LINE_AA, SHIFT)
    figure = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), 0.8)
    coverage = cv2.GaussianBlur(mask.astype(np.float32) * np.float32(1 / 255), (0, 0), 0.8)
    return figure, coverage


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0] * ONE)), int(round(point[1] * ONE))
