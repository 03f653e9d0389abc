"""Whole clips: plan an actor's moves, render every frame, and derive labelled segments."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from kombat.recordings import Segment
from kombat.schema import SynthConfig
from kombat.synth.body import Actor, make_actor
from kombat.synth.motions import plan_clip, pose_at
from kombat.synth.render import make_scene, render_frame
from kombat.synth.unrest import Unrest, plan_unrest


@dataclass
class Clip:
    frames: list[np.ndarray]  # RGB uint8
    labels: list[str | None]  # per-frame truth
    moves: list[str]
    fps: int

    @property
    def segments(self) -> list[Segment]:
        return segments_from_labels(self.labels, self.fps)


def segments_from_labels(labels: list[str | None], fps: int) -> list[Segment]:
    """Maximal runs of one label; unlabelled frames (None) fall between segments."""
    segments: list[Segment] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            if labels[start] is not None:
                segments.append(Segment(round(start / fps, 4), round(i / fps, 4), labels[start]))
            start = i
    return segments


def render_clip(actor: Actor, seed: int, seconds: float, fps: int, size: tuple[int, int],
                hard_negative_rate: float, occlusion_rate: float, noise: float, unrest: Unrest | None = None) -> Clip:
    rng = np.random.default_rng(seed)
    scene = make_scene(rng, size[0], size[1], occlusion_rate, noise)
    plan = plan_clip(actor, rng, seconds, hard_negative_rate)
    count = int(round(seconds * fps))
    if unrest is not None and not unrest.calm:  # its own streams: the calm clip's draws stay as they were
        scene = replace(scene, unrest=plan_unrest(seed, unrest, size[0], size[1], count, fps))
    frames, labels, moves = [], [], []
    previous = None
    for i in range(count):
        truth = pose_at(plan, i / fps)
        frame, previous = render_frame(actor, truth.pose, scene, i / fps, rng, previous)
        frames.append(frame)
        labels.append(truth.label)
        moves.append(truth.move)
    return Clip(frames, labels, moves, fps)


def render_actor_clip(synth: SynthConfig, actor_name: str, actor_index: int, clip_index: int,
                      seconds: float | None = None) -> Clip:
    """Clip `clip_index` of actor number `actor_index`, every seed derived from `synth.seed`: the
    same frames in any process. The synth stage numbers its actors from 0; held-out actors for
    play-tests use numbers it never reaches, so they count among the last, `shifted_actors`, ones:
    filmed in the other place, like the test actors of data=synthetic_shifted."""
    actor = make_actor(actor_name, seed=synth.seed * 1000 + actor_index)
    elsewhere = synth.shifted_actors == 0 or actor_index >= synth.actors - synth.shifted_actors
    unrest = Unrest(synth.shake, synth.sway_rate, synth.passerby_rate, synth.flicker) if elsewhere else None
    return render_clip(actor, seed=synth.seed * 100_000 + actor_index * 100 + clip_index,
                       seconds=synth.clip_seconds if seconds is None else seconds, fps=synth.fps,
                       size=(synth.width, synth.height), hard_negative_rate=synth.hard_negative_rate,
                       occlusion_rate=synth.occlusion_rate, noise=synth.noise, unrest=unrest)


def contact_sheet(samples: list[tuple[np.ndarray, str]], columns: int, cell: tuple[int, int]) -> np.ndarray:
    """A grid of frames (RGB), each captioned with its label."""
    rows = max(1, -(-len(samples) // columns))
    w, h = cell
    sheet = np.full((rows * (h + 16), columns * w, 3), 255, np.uint8)
    for i, (frame, caption) in enumerate(samples):
        r, c = divmod(i, columns)
        y, x = r * (h + 16), c * w
        sheet[y : y + h, x : x + w] = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        cv2.putText(sheet, caption, (x + 3, y + h + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet
