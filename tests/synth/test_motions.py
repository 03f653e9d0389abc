"""Moves and clip plans: every move runs guard to guard (so moves chain without a jump), strikes reach
out, a faster actor is faster, and a plan is seeded, back to back and as hard as asked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kombat.synth.body import extension, forward_kinematics, make_actor
from kombat.synth.motions import (
    EVERYDAY,
    HARD_NEGATIVES,
    KICKS,
    PUNCHES,
    guard_pose,
    make_motion,
    plan_clip,
    pose_at,
)

ALL_MOVES = PUNCHES + KICKS + EVERYDAY + HARD_NEGATIVES


def flat(pose) -> np.ndarray:
    return np.hstack([np.ravel(value) for value in dataclasses.astuple(pose)])


@pytest.mark.parametrize("name", ALL_MOVES)
def test_every_move_runs_from_guard_to_guard_under_its_label(name):
    actor = make_actor("a", 3)
    motion = make_motion(name, actor, np.random.default_rng(0))
    assert motion.label == ("punch" if name in PUNCHES else "kick" if name in KICKS else "other")
    guard = flat(guard_pose(actor))
    assert np.allclose(flat(motion.keys[0].pose), guard) and np.allclose(flat(motion.keys[-1].pose), guard)
    plan = [(0.0, motion)]
    assert np.allclose(flat(pose_at(plan, 0.0).pose), guard)
    assert np.allclose(flat(pose_at(plan, motion.seconds).pose), guard)


def test_an_unknown_move_is_named():
    with pytest.raises(ValueError, match="unknown move 'moonwalk'"):
        make_motion("moonwalk", make_actor("a", 1), np.random.default_rng(0))


def strike_truths(name: str, actor):
    motion = make_motion(name, actor, np.random.default_rng(2))
    plan = [(0.0, motion)]
    return motion, [pose_at(plan, t) for t in np.arange(0, motion.seconds, 1 / 60)]


@pytest.mark.parametrize("name, arm", [("jab", "lead_arm"), ("cross", "rear_arm")])
def test_a_straight_punch_extends_its_arm_only_while_it_is_out(name, arm):
    actor = make_actor("a", 4)
    motion, truths = strike_truths(name, actor)

    def straightness(truth):
        return extension(actor.proportions, forward_kinematics(actor.proportions, truth.pose), arm)

    out = [straightness(t) for t in truths if t.label == "punch"]
    assert min(out) > 0.8 and max(out) > 0.95
    assert max(straightness(t) for t in truths if t.label is None) < max(out)
    assert straightness(truths[0]) < 0.6  # from a guard with the elbow bent


@pytest.mark.parametrize("name", ["front_kick", "side_kick", "back_kick"])
def test_a_kick_sends_a_foot_out_level_with_the_hip_only_while_it_is_out(name):
    actor = make_actor("a", 4)
    motion, truths = strike_truths(name, actor)
    leg_length = actor.proportions.thigh + actor.proportions.shin

    def reach(truth):  # the farther foot's horizontal distance from its hip, in leg lengths
        joints = forward_kinematics(actor.proportions, truth.pose)
        return max(abs(joints.feet[s][0] - joints.hips[s][0]) for s in ("lead", "rear")) / leg_length

    assert min(reach(t) for t in truths if t.label == "kick") > 0.65
    assert reach(truths[0]) < 0.4 and reach(truths[-1]) < 0.4  # standing in guard before and after


def test_a_faster_actor_does_the_same_move_in_less_time():
    actor = make_actor("a", 5)
    slow, fast = dataclasses.replace(actor, speed=0.8), dataclasses.replace(actor, speed=1.25)
    for name in ("cross", "roundhouse", "walk"):
        seconds = [make_motion(name, who, np.random.default_rng(7)).seconds for who in (slow, fast)]
        assert seconds[1] == pytest.approx(seconds[0] * 0.8 / 1.25)


def test_a_plan_is_seeded_back_to_back_and_chains_without_a_jump():
    actor = make_actor("a", 6)
    plan = plan_clip(actor, np.random.default_rng(11), seconds=12.0, hard_negative_rate=0.5)
    again = plan_clip(actor, np.random.default_rng(11), seconds=12.0, hard_negative_rate=0.5)
    assert [(s, m.name, m.seconds) for s, m in plan] == [(s, m.name, m.seconds) for s, m in again]
    assert plan[0][0] == 0.0 and plan[-1][0] + plan[-1][1].seconds >= 12.0  # covers the clip
    assert all(start < 12.0 for start, _ in plan[0::2])  # and starts no move after it
    for (start, motion), (next_start, _) in zip(plan, plan[1:]):
        assert next_start == pytest.approx(start + motion.seconds)
        before, after = pose_at(plan, next_start - 1e-6), pose_at(plan, next_start + 1e-6)
        assert np.abs(flat(before.pose) - flat(after.pose)).max() < 0.1  # degrees: no jump between moves
    assert [m.name for _, m in plan[1::2]] == ["guard"] * len(plan[1::2])  # a guard pause after every move


def test_the_hard_negative_rate_decides_what_the_other_moves_are():
    actor = make_actor("a", 7)

    def others(rate):
        plan = plan_clip(actor, np.random.default_rng(3), seconds=60.0, hard_negative_rate=rate)
        return {m.name for _, m in plan[0::2] if m.label == "other"}

    assert others(0.0) <= set(EVERYDAY) and others(1.0) <= set(HARD_NEGATIVES)
    assert others(1.0) and others(0.0)
