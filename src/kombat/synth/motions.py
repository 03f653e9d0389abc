"""Moves as keyframed poses with natural timing, and the per-frame truth they imply.

A strike runs guard -> wind-up -> strike (fast) -> hold -> recovery -> guard. Its frames are
labelled by how far the limb is "out": the strike's progress from its wind-up pose to its full
extension. Frames at least STRIKE_OUT of the way out are `punch`/`kick`; wind-up and recovery
frames below that are left unlabelled (excluded from training and testing) because one frame of
them is neither clearly a strike nor clearly not, which is also how a person sorting frames by
hand, as the article did, would leave them. Every frame of every other move is `other`,
including the hard negatives that pass near a strike pose (reaching, arm raises, knee lifts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kombat.synth.body import Actor, Limb, Pose, lerp_pose, with_limb

STRIKE_OUT = 0.6

PUNCHES = ("jab", "cross", "hook", "uppercut")
KICKS = ("front_kick", "side_kick", "roundhouse", "back_kick")
EVERYDAY = ("idle", "guard", "walk", "turn", "wave", "squat")
HARD_NEGATIVES = ("reach", "arm_raise", "stretch", "knee_lift", "leg_raise", "march")


@dataclass(frozen=True)
class Key:
    pose: Pose
    seconds: float  # time to move from the previous key to this one
    out: float = 0.0  # strike progress at this key (0: not out, 1: fully out)
    snap: bool = False  # fast ease-out, for the strike itself


@dataclass(frozen=True)
class Motion:
    name: str
    label: str  # punch, kick or other
    keys: tuple[Key, ...]  # the first key is the start pose (its seconds is ignored)

    @property
    def seconds(self) -> float:
        return sum(k.seconds for k in self.keys[1:])


def guard_pose(actor: Actor) -> Pose:
    return Pose(
        lean=5,
        lead_arm=Limb(35, 125),
        rear_arm=Limb(18, 140),
        lead_leg=Limb(14, 8),
        rear_leg=Limb(-14, 4),
    )


def relaxed_pose() -> Pose:
    return Pose(lean=0, lead_arm=Limb(8, 15), rear_arm=Limb(-6, 10), lead_leg=Limb(5, 2), rear_leg=Limb(-5, 2))


def _jitter(rng: np.random.Generator, limb: Limb, degrees: float = 6.0) -> Limb:
    return Limb(limb.upper + rng.uniform(-degrees, degrees), limb.bend + rng.uniform(-degrees, degrees) * 0.5)


def _strike(name: str, label: str, guard: Pose, windup: Pose, out: Pose, t: dict[str, float]) -> Motion:
    return Motion(
        name,
        label,
        (
            Key(guard, 0.0),
            Key(windup, t["windup"]),
            Key(out, t["strike"], out=1.0, snap=True),
            Key(out, t["hold"], out=1.0),
            Key(windup if t["rechamber"] else guard, t["recover"], out=0.0),
            Key(guard, t["settle"]),
        ),
    )


def make_motion(name: str, actor: Actor, rng: np.random.Generator) -> Motion:
    """One instance of move `name` for `actor`, with its own small variations."""
    guard = guard_pose(actor)
    pace = 1.0 / actor.speed
    reach_bend = (1.0 - actor.reach) * 60  # a shorter reach leaves the joint a little bent

    def timing(windup: float, strike: float, hold: float, recover: float, rechamber: bool = False) -> dict:
        scale = pace * rng.uniform(0.85, 1.15)
        return {
            "windup": windup * scale,
            "strike": strike * scale,
            "hold": hold * scale * rng.uniform(0.8, 1.4),
            "recover": recover * scale,
            "settle": 0.12 * scale,
            "rechamber": rechamber,
        }

    side = "lead" if rng.random() < 0.5 else "rear"
    if name in PUNCHES:
        arm = "lead_arm" if name in ("jab", "hook") else "rear_arm"
        if name == "uppercut":
            arm = f"{side}_arm"
        windup = replace(with_limb(guard, arm, Limb(22, 140)), lean=guard.lean - 3)
        shape = {
            "jab": (Limb(86, 2 + reach_bend), 8, 0.0),
            "cross": (Limb(88, 2 + reach_bend), 16, 0.03),
            "hook": (Limb(84, 48), 12, 0.01),
            "uppercut": (Limb(58, 92), 10, 0.0),
        }[name]
        limb, lean, step = shape
        limb = Limb(limb.upper - lean, limb.bend)  # arm angles follow the torso: keep the fist level
        if name == "uppercut":
            windup = replace(with_limb(guard, arm, Limb(30, 70)), drop=0.03, lean=guard.lean + 6)
        out = replace(with_limb(guard, arm, _jitter(rng, limb)), lean=lean + rng.uniform(-4, 4), step=step)
        return _strike(name, "punch", guard, windup, out, timing(0.16, 0.09, 0.16, 0.22))
    if name in KICKS:
        leg = f"{side}_leg"
        other_leg = "rear_leg" if side == "lead" else "lead_leg"
        support = Limb(-4, 6)
        if name == "back_kick":
            leg, other_leg = "rear_leg", "lead_leg"
            chamber_limb, out_limb, lean_out = Limb(8, 105), Limb(-84, 2), 38
        elif name == "side_kick":
            chamber_limb, out_limb, lean_out = Limb(86, 122), Limb(96, 2 + reach_bend), -28
        elif name == "roundhouse":
            chamber_limb, out_limb, lean_out = Limb(72, 110), Limb(80, 14), -20
        else:
            chamber_limb, out_limb, lean_out = Limb(82, 112), Limb(88, 3 + reach_bend), -10
        base = with_limb(guard, other_leg, support)
        windup = replace(with_limb(base, leg, chamber_limb), lean=lean_out * 0.5)
        out = replace(with_limb(base, leg, _jitter(rng, out_limb)), lean=lean_out + rng.uniform(-5, 5))
        if name == "roundhouse":
            windup, out = replace(windup, facing=0.8), replace(out, facing=0.7)
        return _strike(name, "kick", guard, windup, out, timing(0.22, 0.12, 0.2, 0.3, rechamber=True))
    return _everyday(name, actor, rng, guard, pace, side)


def _everyday(name: str, actor: Actor, rng: np.random.Generator, guard: Pose, pace: float, side: str) -> Motion:
    relaxed = relaxed_pose()
    arm, leg = f"{side}_arm", f"{side}_leg"

    def seq(*steps: tuple[Pose, float]) -> Motion:
        keys = [Key(guard, 0.0)] + [Key(p, s * pace * rng.uniform(0.85, 1.2)) for p, s in steps]
        return Motion(name, "other", tuple(keys))

    if name == "idle":
        sway = [(replace(relaxed, lean=rng.uniform(-4, 4), step=rng.uniform(-0.02, 0.02)), 0.6) for _ in range(3)]
        return seq((relaxed, 0.4), *sway, (guard, 0.4))
    if name == "guard":
        bob = replace(guard, drop=0.012)
        return seq((bob, 0.25), (guard, 0.25), (bob, 0.25), (guard, 0.25))
    if name == "walk":
        stride = rng.uniform(0.05, 0.09) * (1 if rng.random() < 0.5 else -1)
        a = replace(relaxed, lead_leg=Limb(22, 10), rear_leg=Limb(-20, 18), step=stride)
        b = replace(relaxed, lead_leg=Limb(-18, 16), rear_leg=Limb(20, 8), step=2 * stride)
        return seq((a, 0.35), (b, 0.35), (a, 0.35), (relaxed, 0.35), (guard, 0.3))
    if name == "turn":
        half = replace(relaxed, facing=0.05)
        back = replace(relaxed, facing=-1.0)
        return seq((half, 0.35), (back, 0.35), (back, 0.4), (half, 0.35), (relaxed, 0.35), (guard, 0.3))
    if name == "wave":
        up_a = with_limb(relaxed, arm, Limb(155, 35))
        up_b = with_limb(relaxed, arm, Limb(160, -25))
        up_a, up_b = replace(up_a, open_hands=1.0), replace(up_b, open_hands=1.0)
        return seq((up_a, 0.45), (up_b, 0.25), (up_a, 0.25), (up_b, 0.25), (relaxed, 0.4), (guard, 0.3))
    if name == "squat":
        low = replace(
            relaxed,
            drop=0.17,
            lean=22,
            lead_leg=Limb(62, 118),
            rear_leg=Limb(48, 110),
            lead_arm=Limb(70, 20),
            rear_arm=Limb(60, 25),
        )
        return seq((low, 0.55), (low, 0.3), (relaxed, 0.5), (guard, 0.3))
    # Hard negatives: slow or open-handed moves that pass near a strike pose.
    if name == "reach":
        out = replace(with_limb(relaxed, arm, _jitter(rng, Limb(rng.uniform(70, 100), 8), 8)), open_hands=1.0, lean=6)
        return seq((out, 0.7), (out, 0.5), (relaxed, 0.6), (guard, 0.3))
    if name == "arm_raise":
        mid = replace(with_limb(relaxed, arm, Limb(90, 4)), open_hands=1.0)
        top = replace(with_limb(relaxed, arm, Limb(168, 2)), open_hands=1.0)
        return seq((mid, 0.6), (top, 0.5), (mid, 0.5), (relaxed, 0.5), (guard, 0.3))
    if name == "stretch":
        both = replace(relaxed, lead_arm=Limb(92, 2), rear_arm=Limb(88, 4), open_hands=1.0)
        return seq((both, 0.7), (both, 0.6), (relaxed, 0.6), (guard, 0.3))
    if name == "knee_lift":
        lifted = with_limb(replace(guard, lean=-4), leg, _jitter(rng, Limb(86, 118)))
        return seq((lifted, 0.4), (lifted, 0.5), (guard, 0.4))
    if name == "leg_raise":
        raised = with_limb(replace(relaxed, lean=-8), leg, _jitter(rng, Limb(58, 40)))
        return seq((raised, 0.7), (raised, 0.4), (relaxed, 0.6), (guard, 0.3))
    if name == "march":
        a = with_limb(relaxed, "lead_leg", Limb(72, 95))
        b = with_limb(relaxed, "rear_leg", Limb(72, 95))
        return seq((a, 0.4), (relaxed, 0.3), (b, 0.4), (relaxed, 0.3), (guard, 0.3))
    raise ValueError(f"unknown move {name!r}")


def plan_clip(
    actor: Actor, rng: np.random.Generator, seconds: float, hard_negative_rate: float
) -> list[tuple[float, Motion]]:
    """A clip's moves as (start time, motion), back to back from the guard pose."""
    plan: list[tuple[float, Motion]] = []
    t = 0.0
    kinds: list[str] = []
    while t < seconds:
        if not kinds:  # shuffled blocks of one punch, one kick, one other: every clip gets strikes
            kinds = list(rng.permutation(["punch", "kick", "other"]))
        kind = kinds.pop()
        if kind == "punch":
            name = str(rng.choice(PUNCHES))
        elif kind == "kick":
            name = str(rng.choice(KICKS, p=[0.35, 0.25, 0.25, 0.15]))
        elif rng.random() < hard_negative_rate:
            name = str(rng.choice(HARD_NEGATIVES))
        else:
            name = str(rng.choice(EVERYDAY))
        motion = make_motion(name, actor, rng)
        plan.append((t, motion))
        t += motion.seconds
        pause = make_motion("guard", actor, rng)
        pause = Motion("guard", "other", pause.keys[: 1 + int(rng.integers(1, 3))])
        plan.append((t, pause))
        t += pause.seconds
    return plan


def _ease(t: float, snap: bool) -> float:
    if snap:
        return 1.0 - (1.0 - t) ** 3
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class FrameTruth:
    pose: Pose
    move: str
    label: str | None  # punch, kick, other, or None (wind-up/recovery: not labelled)
    out: float


def pose_at(plan: list[tuple[float, Motion]], t: float) -> FrameTruth:
    """The pose and the truth at time t of a planned clip."""
    starts = [start for start, _ in plan]
    index = max(0, int(np.searchsorted(starts, t, side="right")) - 1)
    start, motion = plan[index]
    local = t - start
    keys = motion.keys
    for prev, key in zip(keys, keys[1:]):
        if local <= key.seconds or key is keys[-1]:
            frac = min(1.0, max(0.0, local / key.seconds)) if key.seconds > 0 else 1.0
            s = _ease(frac, key.snap)
            pose = lerp_pose(prev.pose, key.pose, s)
            out = prev.out + (key.out - prev.out) * s
            break
        local -= key.seconds
    if motion.label == "other":
        label: str | None = "other"
    else:
        label = motion.label if out >= STRIKE_OUT else None
    return FrameTruth(pose, motion.name, label, out)
