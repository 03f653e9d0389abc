"""Drawing: a shaded, clothed figure over a photographic scene, seen by an imperfect webcam.

Pure functions of arrays and seeds: `Scene` fixes everything about one clip's camera and room,
`render_frame` turns one pose into one RGB frame.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from kombat.synth.body import Actor, Joints, Pose, forward_kinematics
from kombat.synth.unrest import UnrestPlan, draw_swayer, walk_pose

# Photographs that ship inside scikit-image (no download); none shows a person.
PHOTOS = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "hubble_deep_field", "coins", "camera", "page")
SHIFT = 4  # sub-pixel precision for OpenCV drawing
ONE = 1 << SHIFT


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


@dataclass(frozen=True)
class Scene:
    """One clip's room and camera: fixed for the whole clip."""

    background: np.ndarray  # (H, W, 3) uint8 RGB
    scale: float  # pixels per body unit
    ground: tuple[float, float]  # pixel under the pelvis at step 0
    facing: float  # +1 faces right, -1 left
    tilt: float  # degrees
    gain: float
    tint: tuple[float, float, float]
    flicker: float  # amplitude of slow lighting drift
    noise_sigma: float
    jpeg_quality: int
    blur_per_px: float  # motion-blur length per pixel of limb motion per frame
    occluder: tuple[str, tuple[int, int, int], tuple[int, int, int, int]] | None
    light: tuple[float, float]  # direction light comes from, for shading
    unrest: UnrestPlan | None = None  # shake, things moving behind the fighter, flicker; None: a calm studio


def make_scene(rng: np.random.Generator, width: int, height: int, occlusion_rate: float, noise: float) -> Scene:
    photo = _photo(PHOTOS[rng.integers(len(PHOTOS))])
    ph, pw = photo.shape[:2]
    crop_w = int(min(pw, ph * width / height) * rng.uniform(0.5, 1.0))
    crop_h = int(crop_w * height / width)
    x0, y0 = rng.integers(0, pw - crop_w + 1), rng.integers(0, ph - crop_h + 1)
    crop = cv2.resize(photo[y0 : y0 + crop_h, x0 : x0 + crop_w], (width, height), interpolation=cv2.INTER_AREA)
    crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.5, 2.5))  # the fighter is in focus, the room less so
    top, bottom = rng.integers(40, 230, size=3), rng.integers(20, 200, size=3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    gradient = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1))
    mix = rng.uniform(0.35, 1.0)
    background = mix * crop + (1 - mix) * gradient
    floor_y = int(height * rng.uniform(0.75, 0.95))
    background[floor_y:] *= rng.uniform(0.6, 0.9)
    background = np.clip(background, 0, 255).astype(np.uint8)

    figure_px = height * rng.uniform(0.62, 0.95)
    occluder = None
    if rng.random() < occlusion_rate:
        colour = tuple(int(c) for c in rng.integers(30, 220, size=3))
        edge = tuple(int(c * 0.6) for c in colour)
        if rng.random() < 0.5:  # a desk or sofa back across the legs
            y = int(height * rng.uniform(0.72, 0.88))
            occluder = ("desk", colour, edge, (0, y, width, height))
        else:  # a lamp, plant or door frame at one side
            w = int(width * rng.uniform(0.08, 0.16))
            x = int(width * (rng.uniform(0.1, 0.3) if rng.random() < 0.5 else rng.uniform(0.7, 0.9)))
            occluder = ("post", colour, edge, (x, int(height * rng.uniform(0.0, 0.4)), x + w, height))
    return Scene(
        background=background,
        scale=figure_px,
        ground=(width * rng.uniform(0.36, 0.64), height * rng.uniform(0.92, 1.05)),
        facing=1.0 if rng.random() < 0.5 else -1.0,
        tilt=rng.uniform(-4, 4),
        gain=rng.uniform(0.75, 1.2),
        tint=tuple(rng.uniform(0.88, 1.12, size=3)),
        flicker=0.06 * noise * rng.random(),
        noise_sigma=noise * rng.uniform(1.5, 6.0),
        jpeg_quality=int(np.clip(95 - noise * rng.uniform(10, 60), 20, 95)),
        blur_per_px=noise * rng.uniform(0.2, 0.6),
        occluder=occluder,
        light=(rng.uniform(-1, 1), -1.0),
    )


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, int(c * factor)) for c in colour)  # type: ignore[return-value]


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0] * ONE)), int(round(point[1] * ONE))


def _capsule(canvas: np.ndarray, mask: np.ndarray | None, p: np.ndarray, q: np.ndarray, r1: float, r2: float,
             colour: tuple[int, int, int]) -> None:
    # Scalar arithmetic: the same float64 operations as on 2-vectors, without numpy's cost per call (about
    # 50 capsules a frame); round() halves to even like np.round.
    (px, py), (qx, qy) = map(float, p), map(float, q)
    length = float(np.hypot(qx - px, qy - py)) + 1e-6
    nx, ny = -(qy - py) / length, (qx - px) / length
    quad = ((px + nx * r1, py + ny * r1), (qx + nx * r2, qy + ny * r2), (qx - nx * r2, qy - ny * r2),
            (px - nx * r1, py - ny * r1))
    poly = np.array([(round(x * ONE), round(y * ONE)) for x, y in quad], np.int32)
    targets = [(canvas, colour)] + ([(mask, (255,))] if mask is not None else [])
    start, end, start_radius, end_radius = _fixed(p), _fixed(q), int(r1 * ONE), int(r2 * ONE)
    for target, c in targets:
        cv2.fillConvexPoly(target, poly, c, cv2.LINE_AA, SHIFT)
        cv2.circle(target, start, start_radius, c, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(target, end, end_radius, c, -1, cv2.LINE_AA, SHIFT)


def _limb(canvas: np.ndarray, mask: np.ndarray | None, p: np.ndarray, q: np.ndarray, r1: float, r2: float,
          colour: tuple[int, int, int], light: np.ndarray) -> None:
    """A limb with volume: dark rim, mid tone, and a highlight towards the light."""
    _capsule(canvas, mask, p, q, r1, r2, _shade(colour, 0.55))
    shift = light * 0.22
    _capsule(canvas, None, p + shift * r1, q + shift * r2, r1 * 0.72, r2 * 0.72, colour)
    shift = light * 0.42
    _capsule(canvas, None, p + shift * r1, q + shift * r2, r1 * 0.3, r2 * 0.3, _shade(colour, 1.3))


@lru_cache(maxsize=8)
def _texture(kind: str, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Multiplicative pattern for a clothing texture, float32: the same for every frame of a clip, so
    made once (cached, read-only)."""
    pattern = _pattern(kind, shape, seed).astype(np.float32)
    pattern.flags.writeable = False
    return pattern


def _pattern(kind: str, shape: tuple[int, int], seed: int) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "stripes":
        return np.where((yy // 3) % 2 == 0, 1.0, 0.72)[..., None]
    if kind == "checks":
        return np.where(((yy // 4) + (xx // 4)) % 2 == 0, 1.0, 0.75)[..., None]
    if kind == "noise":
        rng = np.random.default_rng(seed)
        return cv2.GaussianBlur(rng.uniform(0.75, 1.1, size=(h, w)).astype(np.float32), (0, 0), 1.2)[..., None]
    return np.ones((h, w, 1))


def draw_figure(actor: Actor, pose: Pose, scene: Scene, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, Joints]:
    """The figure on black (premultiplied RGB, float) and its coverage (0..1), plus its joints in pixels."""
    width, height = size
    body, looks = actor.proportions, actor.looks
    joints = forward_kinematics(body, pose)
    sx = scene.facing * pose.facing  # turning narrows the figure through facing ~ 0
    width_scale = 0.45 + 0.55 * abs(pose.facing)
    foot_y = body.thigh + body.shin + 0.02
    origin = np.array([scene.ground[0], scene.ground[1] - scene.scale * foot_y])

    def px(point: np.ndarray) -> np.ndarray:
        return origin + scene.scale * np.array([point[0] * sx, point[1]])

    canvas = np.zeros((height, width, 3), np.uint8)
    coverage = np.zeros((height, width), np.uint8)
    shirt_mask = np.zeros((height, width), np.uint8)
    s = scene.scale * body.limb_width
    light = np.array(scene.light) / np.hypot(*scene.light)
    # The side nearer the camera is drawn last; a southpaw shows the other side.
    near = "rear" if actor.southpaw else "lead"
    far = "lead" if near == "rear" else "rear"

    def leg(side: str, depth: float) -> None:
        hip, knee, foot = px(joints.hips[side]), px(joints.knees[side]), px(joints.feet[side])
        _limb(canvas, coverage, hip, knee, 0.05 * s, 0.04 * s, _shade(looks.trousers, depth), light)
        _limb(canvas, coverage, knee, foot, 0.04 * s, 0.03 * s, _shade(looks.trousers, depth), light)
        toe = foot + np.array([0.07 * scene.scale * sx, 0.005 * scene.scale])
        _limb(canvas, coverage, foot, toe, 0.028 * s, 0.022 * s, _shade(looks.shoes, depth), light)

    def arm(side: str, depth: float) -> None:
        shoulder, elbow, hand = px(joints.shoulders[side]), px(joints.elbows[side]), px(joints.hands[side])
        _limb(canvas, shirt_mask, shoulder, elbow, 0.038 * s, 0.031 * s, _shade(looks.shirt, depth), light)
        sleeve = looks.shirt if looks.long_sleeves else looks.skin
        _limb(canvas, shirt_mask if looks.long_sleeves else None, elbow, hand, 0.031 * s, 0.025 * s,
              _shade(sleeve, depth), light)
        skin = _shade(looks.skin, depth)
        if pose.open_hands > 0.5:  # an open hand: longer and flatter than a fist
            tip = hand + (hand - elbow) / (np.hypot(*(hand - elbow)) + 1e-6) * 0.06 * scene.scale
            _limb(canvas, coverage, hand, tip, 0.022 * s, 0.014 * s, skin, light)
        else:
            _limb(canvas, coverage, hand, hand + 0.01, 0.036 * s, 0.036 * s, skin, light)

    leg(far, 0.78)
    arm(far, 0.78)
    # Torso: a tapered block from hips to shoulders, narrower when seen edge-on.
    neck, pelvis = px(joints.neck), px(joints.pelvis)
    axis = neck - pelvis
    half_shoulder = 0.5 * body.shoulder_width * scene.scale * width_scale
    half_hip = 0.5 * body.hip_width * scene.scale * width_scale
    _limb(canvas, coverage, pelvis, pelvis + axis * 0.05, half_hip, half_hip, looks.trousers, light)
    _limb(canvas, shirt_mask, pelvis + axis * 0.12, neck - axis * 0.08, half_hip * 0.95, half_shoulder, looks.shirt, light)
    # Head, neck and hair.
    head = px(joints.head)
    r = body.head * scene.scale
    _limb(canvas, coverage, neck - axis * 0.05, head, 0.03 * scene.scale, 0.03 * scene.scale, looks.skin, light)
    if looks.hair_style == "long":
        _capsule(canvas, coverage, head + np.array([-0.4 * r * sx, 0]), head + np.array([-0.6 * r * sx, 1.6 * r]),
                 r * 0.9, r * 0.7, looks.hair)
    _limb(canvas, coverage, head, head + 0.01, r * 0.85, r, looks.skin, light)
    if looks.hair_style in ("short", "long", "bun"):
        for target, c in ((canvas, looks.hair), (coverage, 255)):
            cv2.ellipse(target, _fixed(head - np.array([0.15 * r * sx, 0.2 * r])),
                        (int(r * 0.95 * ONE), int(r * 0.8 * ONE)), 0, 180, 360, c, -1, cv2.LINE_AA, SHIFT)
    if looks.hair_style == "bun":
        _capsule(canvas, coverage, head + np.array([-0.9 * r * sx, -0.5 * r]), head + np.array([-0.9 * r * sx, -0.5 * r]),
                 0.4 * r, 0.4 * r, looks.hair)
    if looks.hair_style == "cap":
        for target, c in ((canvas, looks.shirt), (coverage, 255)):
            cv2.ellipse(target, _fixed(head - np.array([0, 0.25 * r])), (int(r * ONE), int(r * 0.7 * ONE)), 0, 180, 360,
                        c, -1, cv2.LINE_AA, SHIFT)
        _capsule(canvas, coverage, head - np.array([0, 0.3 * r]), head + np.array([1.5 * r * sx, -0.3 * r]),
                 r * 0.15, r * 0.12, looks.shirt)
    if abs(pose.facing) > 0.3:
        eye = head + np.array([0.55 * r * sx * np.sign(pose.facing), -0.1 * r])
        cv2.circle(canvas, _fixed(eye), max(ONE, int(0.12 * r * ONE)), (25, 20, 20), -1, cv2.LINE_AA, SHIFT)
    leg(near, 1.0)
    arm(near, 1.0)

    figure = canvas.astype(np.float32)
    if looks.shirt_texture != "plain":
        pattern = _texture(looks.shirt_texture, (height, width), zlib.crc32(actor.name.encode()))
        on_shirt = (shirt_mask > 0)[..., None]
        figure = np.where(on_shirt, figure * pattern, figure)
    alpha = np.maximum(coverage, shirt_mask).astype(np.float32) * np.float32(1 / 255)
    pixel_joints = Joints(
        pelvis=px(joints.pelvis), neck=neck, head=head,
        shoulders={k: px(v) for k, v in joints.shoulders.items()},
        elbows={k: px(v) for k, v in joints.elbows.items()},
        hands={k: px(v) for k, v in joints.hands.items()},
        hips={k: px(v) for k, v in joints.hips.items()},
        knees={k: px(v) for k, v in joints.knees.items()},
        feet={k: px(v) for k, v in joints.feet.items()},
    )
    return figure, alpha, pixel_joints


def _extremities(joints: Joints) -> np.ndarray:
    return np.array([*joints.hands.values(), *joints.feet.values()])


def _behind_fighter(frame: np.ndarray, scene: Scene, t: float) -> None:
    """Draw into `frame` (float RGB, in place) what moves in the room: the swaying thing, passers-by."""
    height, width = frame.shape[:2]
    plan = scene.unrest
    assert plan is not None
    if plan.swayer is not None:
        premultiplied, coverage = draw_swayer(plan.swayer, t, (width, height))
        frame *= 1 - coverage[..., None]
        frame += premultiplied
    for crossing in plan.crossings:
        if crossing.start <= t <= crossing.start + crossing.seconds:
            there = replace(scene, scale=crossing.scale, ground=(crossing.x(t, width), crossing.ground_y),
                            facing=crossing.direction, unrest=None)
            figure, alpha, _ = draw_figure(crossing.actor, walk_pose(crossing, t), there, (width, height))
            # Further back than the fighter: out of focus, in the room's dimmer light.
            figure = cv2.GaussianBlur(figure * alpha[..., None], (0, 0), 1.0) * np.float32(0.8)
            alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
            frame *= 1 - alpha[..., None]
            frame += figure


def camera(scene: Scene, t: float) -> np.ndarray | None:
    """The 2x3 affine the camera applies to the drawn room and fighter at t (tilt; shake's shift, roll
    and zoom), or None when it applies none."""
    height, width = scene.background.shape[:2]
    if scene.unrest is not None and scene.unrest.shake is not None:  # the whole picture moves: room and fighter
        dx, dy, roll = scene.unrest.shake[scene.unrest.frame(t)]
        view = cv2.getRotationMatrix2D((width / 2, height / 2), scene.tilt + roll, scene.unrest.zoom)
        view[:, 2] += (dx, dy)
        return view
    if scene.tilt:
        return cv2.getRotationMatrix2D((width / 2, height / 2), scene.tilt, 1.0)
    return None


def seen_joints(joints: Joints, scene: Scene, t: float) -> Joints:
    """Joints as drawn (render_frame's) -> where they are in the frame the camera gives at t."""
    view = camera(scene, t)
    if view is None:
        return joints

    def at(point: np.ndarray) -> np.ndarray:
        return view[:, :2] @ point + view[:, 2]

    return Joints(at(joints.pelvis), at(joints.neck), at(joints.head),
                  *({side: at(point) for side, point in part.items()}
                    for part in (joints.shoulders, joints.elbows, joints.hands, joints.hips, joints.knees, joints.feet)))


def _box(cover: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the smallest box holding every non-zero pixel of `cover` (2-D)."""
    x, y, w, h = cv2.boundingRect((cover != 0).view(np.uint8))
    return slice(y, y + h), slice(x, x + w)


def render_frame(actor: Actor, pose: Pose, scene: Scene, t: float, rng: np.random.Generator,
                 previous: Joints | None = None) -> tuple[np.ndarray, Joints]:
    """One webcam frame (RGB uint8) of `actor` in `pose` at time t, and the joints in pixels as drawn (before
    the camera tilts or shakes the picture: `seen_joints` says where they are in the frame)."""
    height, width = scene.background.shape[:2]
    figure, alpha, joints = draw_figure(actor, pose, scene, (width, height))
    if previous is not None:
        motion = _extremities(joints) - _extremities(previous)
        fastest = motion[np.argmax(np.hypot(motion[:, 0], motion[:, 1]))]
        length = int(min(9, np.hypot(*fastest) * scene.blur_per_px))
        if length >= 2:  # exposure blur along the fastest limb's path, on the figure only
            kernel = np.zeros((length, length), np.float32)
            direction = fastest / (np.hypot(*fastest) + 1e-6)
            centre = (length - 1) / 2
            for i in np.linspace(-centre, centre, length * 2):
                x, y = int(round(centre + direction[0] * i)), int(round(centre + direction[1] * i))
                kernel[y, x] = 1.0
            kernel /= kernel.sum()
            premultiplied = figure * alpha[..., None]
            premultiplied = cv2.filter2D(premultiplied, -1, kernel)
            alpha = cv2.filter2D(alpha, -1, kernel)
            figure = premultiplied / np.maximum(alpha[..., None], 1e-4)
    frame = scene.background.astype(np.float32)
    if scene.unrest is not None:
        _behind_fighter(frame, scene, t)
    # A soft shadow on the floor grounds the figure.
    shadow = np.zeros((height, width), np.float32)
    cv2.ellipse(shadow, (int(scene.ground[0]), int(scene.ground[1] - 2)), (int(scene.scale * 0.22), int(scene.scale * 0.03)),
                0, 0, 360, 0.35, -1, cv2.LINE_AA)
    # Each blend only where its cover is non-zero: elsewhere it multiplies by 1 and adds 0, the same bytes.
    rows, cols = _box(shadow)
    frame[rows, cols] *= 1 - shadow[rows, cols, None]
    rows, cols = _box(alpha)
    room = frame[rows, cols]  # a view: the figure over the room, in place: frame * (1 - alpha) + figure * alpha
    room *= 1 - alpha[rows, cols, None]
    room += figure[rows, cols] * alpha[rows, cols, None]
    if scene.occluder is not None:
        _, colour, edge, (x0, y0, x1, y1) = scene.occluder
        cv2.rectangle(frame, (x0, y0), (x1, y1), colour, -1)
        cv2.rectangle(frame, (x0, y0), (x1, y1), edge, 2)
    light = scene.gain * (1 + scene.flicker * np.sin(2 * np.pi * t / 3.7))
    if scene.unrest is not None and scene.unrest.light is not None:
        light *= scene.unrest.light[scene.unrest.frame(t)]
    frame *= (light * np.array(scene.tint)).astype(np.float32)
    view = camera(scene, t)
    if view is not None:
        frame = cv2.warpAffine(frame, view, (width, height), borderMode=cv2.BORDER_REFLECT)
    noise = rng.standard_normal(size=frame.shape, dtype=np.float32)
    noise *= np.float32(scene.noise_sigma)
    frame += noise
    frame = np.clip(frame, 0, 255, out=frame).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, scene.jpeg_quality])
    frame = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return frame, joints
