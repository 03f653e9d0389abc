"""Another place: camera shake, things moving behind the fighter and flicker move what a calm studio keeps still."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from kombat.compose import compose, default_config
from kombat.schema import SynthConfig
from kombat.stages.synth import actor_names
from kombat.synth.body import make_actor
from kombat.synth import render
from kombat.synth.clips import Clip, render_actor_clip, render_clip
from kombat.synth.unrest import Unrest, plan_unrest

ROOT = Path(__file__).resolve().parents[2]
SIZE = (160, 90)


def _clip(unrest: Unrest | None, seed: int = 5, seconds: float = 2.0, fps: int = 10) -> Clip:
    # noise 0: no sensor noise, blur or lighting drift, so whatever is not the fighter stands still when calm
    return render_clip(make_actor("a", seed), seed=seed, seconds=seconds, fps=fps, size=SIZE, hard_negative_rate=0.5,
                       occlusion_rate=0.0, noise=0.0, unrest=unrest)


def _frames(clip: Clip) -> np.ndarray:
    return np.stack(clip.frames).astype(np.int16)


@pytest.fixture(scope="module")
def calm() -> Clip:
    return _clip(None)


def _changes_where_calm_is_still(clip: Clip, calm: Clip) -> np.ndarray:
    """Per frame: |frame - previous frame| (max over RGB) at the pixels that stand still in the calm clip."""
    still = np.abs(np.diff(_frames(calm), axis=0)).max(-1) == 0
    moved = np.abs(np.diff(_frames(clip), axis=0)).max(-1)
    return np.where(still, moved, 0)


def test_in_the_calm_studio_only_the_fighter_moves(calm):
    still = np.abs(np.diff(_frames(calm), axis=0)).max(-1) == 0
    assert still.mean() > 0.7  # the room (most of the picture) is the same bytes from frame to frame
    assert _clip(Unrest()).frames[3].tobytes() == calm.frames[3].tobytes()  # all knobs at 0: today's bytes


@pytest.mark.parametrize("unrest", [Unrest(shake=3.0), Unrest(flicker=0.1)])
def test_shake_and_flicker_move_the_whole_background(calm, unrest):
    changes = _changes_where_calm_is_still(_clip(unrest), calm)
    still = np.abs(np.diff(_frames(calm), axis=0)).max(-1) == 0
    per_frame = [frame[mask].mean() for frame, mask in zip(changes, still)]
    # Every frame, all over the room (calm: 0 there by definition); the photo is blurred, so a shift of a pixel
    # or two changes a smooth room by a few levels.
    assert min(per_frame) > 0.3 and np.mean(per_frame) > 1.5


def test_a_swaying_plant_keeps_moving_in_one_place(calm):
    changes = _changes_where_calm_is_still(_clip(Unrest(sway_rate=1.0)), calm) > 10
    moving = changes.sum(axis=(1, 2))
    assert (moving > 10).mean() > 0.6  # most frames: the plant or branch swung since the last one
    where = changes.any(axis=0)
    assert 0 < where.mean() < 0.3  # one object's place, not the whole room


def test_a_passerby_walks_across_behind_the_fighter():
    seed, seconds, fps = 5, 12.0, 5
    unrest = Unrest(passerby_rate=1.0)
    crossing = plan_unrest(seed, unrest, *SIZE, int(seconds * fps), fps).crossings[0]
    calm, walked = _frames(_clip(None, seed, seconds, fps)), _frames(_clip(unrest, seed, seconds, fps))
    # Same seed: the same fighter and room, so whatever differs is the passer-by.
    differs = np.abs(walked - calm).max(-1) > 20
    times = np.arange(len(calm)) / fps
    inside = [i for i, t in enumerate(times) if crossing.start + 0.5 < t < crossing.start + crossing.seconds - 0.5]
    assert len(inside) >= 5 and all(differs[i].sum() > 20 for i in inside)
    outside = [i for i, t in enumerate(times) if not crossing.start - 0.2 < t < crossing.start + crossing.seconds + 0.2]
    assert all(differs[i].sum() == 0 for i in outside)
    centres = np.array([np.nonzero(differs[i])[1].mean() for i in inside])
    steps = np.diff(centres) * crossing.direction
    assert (steps > 0).mean() > 0.8 and abs(centres[-1] - centres[0]) > SIZE[0] / 3  # walking one way, across


BASE = SynthConfig(actors=3, clips_per_actor=1, clip_seconds=1.0, fps=8, width=96, height=54, seed=3,
                   hard_negative_rate=0.5, occlusion_rate=0.0, noise=1.0, shake=0.0, sway_rate=0.0,
                   passerby_rate=0.0, flicker=0.0, shifted_actors=0)


def _bytes(synth: SynthConfig, index: int) -> bytes:
    return np.stack(render_actor_clip(synth, f"actor{index + 1:02d}", index, 0).frames).tobytes()


def test_shifted_actors_are_the_last_ones_and_only_they_are_filmed_elsewhere():
    restless = replace(BASE, shake=3.0, sway_rate=1.0, flicker=0.1)
    shifted_last = replace(restless, shifted_actors=1)
    assert _bytes(shifted_last, 0) == _bytes(BASE, 0) and _bytes(shifted_last, 1) == _bytes(BASE, 1)
    assert _bytes(shifted_last, 2) == _bytes(restless, 2) != _bytes(BASE, 2)
    assert _bytes(restless, 0) != _bytes(BASE, 0)  # shifted_actors 0: every actor is filmed elsewhere


RENDER = """
import hashlib
from kombat.synth.body import make_actor
from kombat.synth.clips import render_clip
from kombat.synth.unrest import Unrest
clip = render_clip(make_actor("a", 4), seed=9, seconds=1.5, fps=8, size=(96, 54), hard_negative_rate=0.5,
                   occlusion_rate=0.0, noise=1.0, unrest=Unrest(shake=3.0, sway_rate=1.0, passerby_rate=1.0, flicker=0.1))
print(hashlib.sha256(b"".join(f.tobytes() for f in clip.frames)).hexdigest())
"""


def test_same_seed_same_restless_frames_in_separate_processes():
    outputs = {subprocess.run([sys.executable, "-c", RENDER], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": str(i), "PATH": ""}).stdout for i in range(2)}
    assert len(outputs) == 1


def test_every_data_preset_has_every_synth_key_and_the_shifted_one_tests_on_the_shifted_actors():
    keys = {f.name for f in fields(SynthConfig)}
    for preset in sorted((ROOT / "conf" / "data").glob("*.yaml")):
        assert set(compose([f"data={preset.stem}"], ROOT / "conf")["data"]["synth"]) == keys, preset.name
    assert set(yaml.safe_load((ROOT / "conf" / "data" / "synthetic.yaml").read_text())["synth"]) == keys
    cfg = default_config(["data=synthetic_shifted"])
    synth = cfg.data.synth
    assert synth.shifted_actors == 3 and synth.shake > 0 and synth.flicker > 0
    assert cfg.split.test_actors == actor_names(synth)[-synth.shifted_actors:]
    calm = default_config([]).data.synth
    assert (calm.shake, calm.sway_rate, calm.passerby_rate, calm.flicker, calm.shifted_actors) == (0, 0, 0, 0, 0)


def test_a_cover_s_box_holds_every_non_zero_pixel_and_nothing_else():
    empty = np.zeros((54, 96), np.float32)
    rows, cols = render._box(empty)
    assert empty[rows, cols].size == 0
    cover = empty.copy()
    cover[0, 95] = 0.5  # a corner
    cover[20, 30] = -1e-16  # a blur's rounding below zero is part of the cover too
    rows, cols = render._box(cover)
    assert (rows, cols) == (slice(0, 21), slice(30, 96))
    outside = cover.copy()
    outside[rows, cols] = 0
    assert not outside.any()
    assert render._box(np.ones_like(empty)) == (slice(0, 54), slice(0, 96))


def test_a_capsule_s_corners_are_the_vector_formula_s():
    """The scalar arithmetic of _capsule against the 2-vector formula it replaced, on drawn points."""
    rng = np.random.default_rng(3)
    drawn = []

    def fill(target, poly, *args):
        drawn.append(poly)

    for _ in range(500):
        p, q = rng.uniform(-20, 120, 2), rng.uniform(-20, 120, 2)
        if rng.random() < 0.1:
            q = p.copy()  # a dot: the hand, the head
        r1, r2 = rng.uniform(0.5, 9, 2)
        canvas = np.zeros((54, 96, 3), np.uint8)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(render.cv2, "fillConvexPoly", fill)
            render._capsule(canvas, None, p, q, r1, r2, (200, 100, 50))
        d = q - p
        n = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-6)
        quad = np.array([p + n * r1, q + n * r2, q - n * r2, p - n * r1])
        np.testing.assert_array_equal(drawn[-1], np.round(quad * render.ONE).astype(np.int32))
