"""A fighter's body: proportions and looks drawn from the actor's seed, and 2D forward kinematics.

Lengths are in body units (standing height = 1). Angles are in degrees from straight down,
positive towards the way the fighter faces, so 90 is a limb held straight forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

SKIN_TONES = [(255, 224, 196), (241, 194, 165), (224, 172, 130), (198, 134, 96), (141, 85, 54), (94, 58, 40)]
HAIR_COLOURS = [(20, 16, 14), (60, 38, 25), (110, 72, 40), (190, 150, 90), (150, 40, 30), (120, 120, 120)]
HAIR_STYLES = ("short", "long", "bun", "bald", "cap")
TEXTURES = ("plain", "stripes", "checks", "noise")


@dataclass(frozen=True)
class Looks:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: str
    shirt: tuple[int, int, int]
    shirt_texture: str
    trousers: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_sleeves: bool


@dataclass(frozen=True)
class Proportions:
    thigh: float
    shin: float
    torso: float
    neck: float
    head: float  # radius
    upper_arm: float
    forearm: float
    shoulder_width: float
    hip_width: float
    limb_width: float  # scales every limb's thickness


@dataclass(frozen=True)
class Actor:
    """Everything the seed fixes about one actor: body, clothes and style of moving."""

    name: str
    proportions: Proportions
    looks: Looks
    southpaw: bool  # right foot forward: the lead hand and leg are the right ones
    speed: float  # >1 moves faster
    reach: float  # how far strikes extend, 0.9..1.0 of full extension


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    hue = rng.uniform(0, 1)
    saturation = rng.uniform(0.2, 0.9)
    value = rng.uniform(0.25, 0.95)
    # HSV to RGB by hand: avoids a colour-library dependency for one line of maths.
    i = int(hue * 6) % 6
    f = hue * 6 - int(hue * 6)
    p, q, t = value * (1 - saturation), value * (1 - f * saturation), value * (1 - (1 - f) * saturation)
    rgb = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q)][i]
    return tuple(int(255 * c) for c in rgb)  # type: ignore[return-value]


def make_actor(name: str, seed: int) -> Actor:
    rng = np.random.default_rng(seed)
    leg = rng.uniform(0.92, 1.08)
    arm = rng.uniform(0.92, 1.08)
    proportions = Proportions(
        thigh=0.245 * leg,
        shin=0.24 * leg,
        torso=0.30 * rng.uniform(0.94, 1.06),
        neck=0.035,
        head=0.064 * rng.uniform(0.92, 1.1),
        upper_arm=0.165 * arm,
        forearm=0.15 * arm,
        shoulder_width=0.15 * rng.uniform(0.85, 1.2),
        hip_width=0.12 * rng.uniform(0.9, 1.15),
        limb_width=rng.uniform(0.85, 1.3),
    )
    looks = Looks(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))],
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        shirt=_colour(rng),
        shirt_texture=TEXTURES[rng.integers(len(TEXTURES))],
        trousers=_colour(rng),
        shoes=_colour(rng),
        long_sleeves=bool(rng.random() < 0.5),
    )
    return Actor(
        name=name,
        proportions=proportions,
        looks=looks,
        southpaw=bool(rng.random() < 0.3),
        speed=float(rng.uniform(0.8, 1.25)),
        reach=float(rng.uniform(0.9, 1.0)),
    )


@dataclass(frozen=True)
class Limb:
    """Angles of one arm or leg: the upper segment from down, the lower one bent from it."""

    upper: float = 0.0
    bend: float = 0.0  # elbow: forearm turns forward/up; knee: shin turns backward


@dataclass(frozen=True)
class Pose:
    lean: float = 0.0  # torso forward (+) or back (-)
    lead_arm: Limb = field(default_factory=Limb)
    rear_arm: Limb = field(default_factory=Limb)
    lead_leg: Limb = field(default_factory=Limb)
    rear_leg: Limb = field(default_factory=Limb)
    step: float = 0.0  # pelvis forward, body units
    drop: float = 0.0  # pelvis down (squat), body units
    facing: float = 1.0  # 1: towards +x; -1: mirrored; in between: turning (narrower)
    open_hands: float = 0.0  # 0: fists, 1: open hands (reaching, waving)


def lerp_pose(a: Pose, b: Pose, t: float) -> Pose:
    """Pose a blended towards b by t in [0, 1]."""

    def mix(x: float, y: float) -> float:
        return x + (y - x) * t

    def limb(x: Limb, y: Limb) -> Limb:
        return Limb(mix(x.upper, y.upper), mix(x.bend, y.bend))

    return Pose(
        lean=mix(a.lean, b.lean),
        lead_arm=limb(a.lead_arm, b.lead_arm),
        rear_arm=limb(a.rear_arm, b.rear_arm),
        lead_leg=limb(a.lead_leg, b.lead_leg),
        rear_leg=limb(a.rear_leg, b.rear_leg),
        step=mix(a.step, b.step),
        drop=mix(a.drop, b.drop),
        facing=mix(a.facing, b.facing),
        open_hands=mix(a.open_hands, b.open_hands),
    )


def with_limb(pose: Pose, which: str, limb: Limb) -> Pose:
    return replace(pose, **{which: limb})


def _direction(angle_deg: float) -> np.ndarray:
    """Unit vector in body space (x forward, y down) for an angle from straight down."""
    a = np.deg2rad(angle_deg)
    return np.array([np.sin(a), np.cos(a)])


@dataclass(frozen=True)
class Joints:
    """Joint positions in body space (x forward, y down, pelvis at the origin before step/drop)."""

    pelvis: np.ndarray
    neck: np.ndarray
    head: np.ndarray
    shoulders: dict[str, np.ndarray]
    elbows: dict[str, np.ndarray]
    hands: dict[str, np.ndarray]
    hips: dict[str, np.ndarray]
    knees: dict[str, np.ndarray]
    feet: dict[str, np.ndarray]


def forward_kinematics(body: Proportions, pose: Pose) -> Joints:
    pelvis = np.array([pose.step, pose.drop])
    up = -_direction(pose.lean)  # the torso points up, tilted by the lean
    neck = pelvis + body.torso * up
    head = neck + (body.neck + body.head) * up
    # 3/4 view: the rear side of the body sits a little behind the lead side.
    depth = {"lead": np.array([0.012, 0.0]), "rear": np.array([-0.02, 0.0])}
    shoulders, elbows, hands, hips, knees, feet = {}, {}, {}, {}, {}, {}
    for side in ("lead", "rear"):
        arm: Limb = getattr(pose, f"{side}_arm")
        leg: Limb = getattr(pose, f"{side}_leg")
        shoulders[side] = neck + 0.03 * _direction(pose.lean) + depth[side]
        elbows[side] = shoulders[side] + body.upper_arm * _direction(arm.upper + pose.lean)
        hands[side] = elbows[side] + body.forearm * _direction(arm.upper + arm.bend + pose.lean)
        hips[side] = pelvis + depth[side] * 0.6
        knees[side] = hips[side] + body.thigh * _direction(leg.upper)
        feet[side] = knees[side] + body.shin * _direction(leg.upper - leg.bend)
    return Joints(pelvis, neck, head, shoulders, elbows, hands, hips, knees, feet)


def extension(body: Proportions, joints: Joints, limb: str) -> float:
    """How straight a limb is: distance root-to-tip over its full length (1 = straight)."""
    side, kind = limb.split("_")
    if kind == "arm":
        span = np.linalg.norm(joints.hands[side] - joints.shoulders[side])
        return float(span / (body.upper_arm + body.forearm))
    span = np.linalg.norm(joints.feet[side] - joints.hips[side])
    return float(span / (body.thigh + body.shin))
