"""Fixtures that make tiny real data: frames drawn with OpenCV, short videos, a project copy."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from kombat import schema

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def keras_weights_available() -> bool:
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return (home / "models" / "mobilenet_1_0_224_tf_no_top.h5").is_file()


needs_weights = pytest.mark.skipif(not keras_weights_available(),
                                   reason="ImageNet MobileNet weights not cached (set KERAS_HOME)")


@pytest.fixture
def cfg() -> schema.KombatConfig:
    return schema.load(ROOT / "params.yaml")


def drawn_frame(label: str, seed: int, size=(160, 90)) -> np.ndarray:
    """A BGR frame with a figure-like blob whose 'arm' or 'leg' sticks out for punch or kick."""
    rng = np.random.default_rng(seed)
    w, h = size
    frame = np.full((h, w, 3), rng.integers(60, 200), np.uint8)
    cx = w // 2 + int(rng.integers(-5, 5))
    cv2.rectangle(frame, (cx - 8, 20), (cx + 8, 60), (40, 40, 160), -1)
    cv2.circle(frame, (cx, 14), 7, (180, 200, 230), -1)
    if label == "punch":
        cv2.line(frame, (cx, 28), (cx + 40, 28), (180, 200, 230), 5)
    elif label == "kick":
        cv2.line(frame, (cx, 58), (cx + 40, 50), (40, 40, 160), 7)
    return frame


def write_video(path: Path, labels: list[str], fps: int = 20, seconds_each: float = 1.0) -> None:
    """A real video (mp4v in .mp4, MJPG in .avi) whose consecutive seconds show `labels`."""
    codec = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (160, 90))
    for i, label in enumerate(labels):
        for k in range(int(fps * seconds_each)):
            writer.write(drawn_frame(label, seed=i * 100 + k))
    writer.release()


def overstate_frame_count(avi: Path, extra: int) -> None:
    """Make an AVI's stream header promise `extra` frames more than it holds, as many cameras' AVIs do
    (the strh chunk's dwLength, which OpenCV reports as the frame count)."""
    data = bytearray(avi.read_bytes())
    at = data.find(b"strh") + 8 + 32  # fccType, fccHandler, flags, priority+language, initial frames, scale, rate, start
    struct.pack_into("<I", data, at, struct.unpack_from("<I", data, at)[0] + extra)
    avi.write_bytes(bytes(data))


# Clips written by PyAV (FFmpeg) frame by frame with chosen timestamps: variable frame rates, other
# codecs and containers, rotation tags.
WIDTH, HEIGHT = 160, 96


def marker_frame(k: int, bright: bool = False) -> np.ndarray:
    """An RGB frame whose bar position says which frame it is (k), white all over when `bright`."""
    image = np.full((HEIGHT, WIDTH, 3), 255 if bright else 30, np.uint8)
    image[:, 4 * (k % 40): 4 * (k % 40) + 4] = (0, 0, 255) if bright else (255, 255, 255)
    return image


def vfr_times() -> list[float]:
    """One second at 30 fps, then one at 10 fps (what a phone writes when the light drops)."""
    return [k / 30 for k in range(30)] + [1 + k / 10 for k in range(10)]


def write_clip(path: Path, codec: str, times: list[float], pix_fmt: str = "yuv420p", bright=(),
               rotation: int = 0, frames: list[np.ndarray] | None = None) -> None:
    """A clip written by PyAV (FFmpeg) with each frame stamped at `times` (ms precision)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for k, t in enumerate(times):
            image = frames[k] if frames is not None else marker_frame(k, bright=k in bright)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# DivX-style "packed B-frames": MPEG-4 Part 2 as DivX 5 and many XviD tools wrote it into AVI files.
VOP_START, USER_DATA_START = b"\x00\x00\x01\xb6", b"\x00\x00\x01\xb2"
B_VOP = 2  # vop_coding_type: 0 I, 1 P, 2 B


def write_packed_avi(path: Path, frames_rgb: list[np.ndarray], fps: int = 30) -> None:
    """An AVI of MPEG-4 Part 2 with B-frames, packed the DivX way: every B-VOP appended to the packet of the
    frame before it, a not-coded VOP (N-VOP) as the placeholder in its own place, and DivX's user data
    ending in 'p' (packed), by which decoders know. One packet per frame slot, as AVI has it."""
    plain = path.with_name(path.stem + ".plain.avi")
    with av.open(str(plain), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames_rgb[0].shape[1], frames_rgb[0].shape[0], "yuv420p"
        stream.codec_context.options = {"bf": "1"}  # I P B P B ...: each B-frame decoded after the P after it
        for k, image in enumerate(frames_rgb):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(plain)) as source, av.open(str(path), "w") as packed:
        template = source.streams.video[0]
        stream = packed.add_stream_from_template(template)
        stream.codec_tag = "DX50"
        coded = [bytes(packet) for packet in source.demux(template) if packet.size]
        for k, chunk in enumerate(divx_pack(coded, time_increment_bits=(fps - 1).bit_length())):
            packet = av.Packet(chunk)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, k, k, Fraction(1, fps)
            packed.mux(packet)
    plain.unlink()


def divx_pack(coded: list[bytes], time_increment_bits: int) -> list[bytes]:
    """Packets in decoding order (I P B P B ...) as DivX stores them: [I] [P+B] [N-VOP] [P+B] [N-VOP] ..."""
    first_vop = coded[0].index(VOP_START)
    coded = [coded[0][:first_vop] + USER_DATA_START + b"DivX503b1393p" + coded[0][first_vop:], *coded[1:]]
    packed, k = [], 0
    while k < len(coded):
        following = coded[k + 1] if k + 1 < len(coded) else b""
        if following.startswith(VOP_START) and following[4] >> 6 == B_VOP:
            packed += [coded[k] + following, not_coded_vop(following, time_increment_bits)]
            k += 2
        else:
            packed.append(coded[k])
            k += 1
    return packed


def not_coded_vop(b_vop: bytes, time_increment_bits: int) -> bytes:
    """A P-VOP header at the B-VOP's time with vop_coded 0: the placeholder DivX leaves in a B-frame's place."""
    bits = "".join(f"{byte:08b}" for byte in b_vop[4:12])
    seconds_end = bits.index("0", 2) + 1  # modulo_time_base: a 1 per whole second, then a 0
    time_increment = bits[seconds_end + 1: seconds_end + 1 + time_increment_bits]  # after a marker bit
    header = "01" + bits[2:seconds_end] + "1" + time_increment + "1" + "0"  # P, time, markers, vop_coded 0
    header += "0" + "1" * ((7 - len(header)) % 8)  # stuffing to the byte
    return VOP_START + int(header, 2).to_bytes(len(header) // 8, "big")


@pytest.fixture
def video_raw_dir(tmp_path: Path) -> Path:
    """Three actors, each a 3-second video (punch, kick, other), with an annotations CSV."""
    raw = tmp_path / "raw"
    (raw / "videos").mkdir(parents=True)
    rows = ["video,start,end,label,actor"]
    for actor in ("ann", "bob", "cy"):
        write_video(raw / "videos" / f"{actor}.mp4", ["punch", "kick", "other"])
        rows += [f"videos/{actor}.mp4,0.0,1.0,punch,{actor}", f"videos/{actor}.mp4,1.0,2.0,kick,{actor}",
                 f"videos/{actor}.mp4,2.0,2.9,other,{actor}"]
    (raw / "annotations.csv").write_text("\n".join(rows) + "\n")
    return raw


def copy_project(dest: Path) -> Path:
    """The project's tracked files in a fresh git repo at `dest` (what a clean clone holds)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        target = dest / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ROOT / name.decode()
        if source.exists():
            shutil.copy2(source, target)
    for path in (ROOT / "src").rglob("*.py"):  # the working tree's code, committed or not
        target = dest / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    git = ["git", "-c", "user.name=kombat-test", "-c", "user.email=test@kombat.local"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


def project_env() -> dict[str, str]:
    """Environment for running the project's commands: this venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


# The project the end-to-end tests share: a small, easy synthetic data set (6 actors, 12 s each,
# no noise, occlusion or hard negatives) that trains in a minute to a model good enough to play.
SMALL_EASY = ["data=tiny", "data.synth.actors=6", "data.synth.clip_seconds=12", "data.synth.noise=0",
              "data.synth.occlusion_rate=0", "data.synth.hard_negative_rate=0", "augment.copies=1", "train.epochs=15",
              "embed.candidate_inputs=[motion,flow]"]  # flow beside the run's motion: the sweeps over inputs


@dataclasses.dataclass
class BuiltProject:
    path: Path
    stages_ran: list[str]
    package: Path  # a copy of models/package/ taken right after the first `dvc repro`
    first_lock: str  # dvc.lock and metrics/evaluate.json right after it
    first_metrics: str


def repro(project: Path, *args: str) -> list[str]:
    """Run `dvc repro` and return the stages that ran."""
    out = subprocess.run(["dvc", "repro", *args], cwd=project, env=project_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return re.findall(r"Running stage '(\w+)'", out.stdout)


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> BuiltProject:
    if not keras_weights_available():
        pytest.skip("ImageNet MobileNet weights not cached (set KERAS_HOME)")
    project = copy_project(tmp_path_factory.mktemp("kombat"))
    subprocess.run(["python", "-m", "kombat.compose", *SMALL_EASY], cwd=project, env=project_env(), check=True,
                   capture_output=True)
    ran = repro(project)
    package = tmp_path_factory.mktemp("elsewhere") / "package"
    shutil.copytree(project / "models/package", package)
    return BuiltProject(project, ran, package, (project / "dvc.lock").read_text(),
                        (project / "metrics/evaluate.json").read_text())


@pytest.fixture
def x_display():
    """A private Xvfb server; yields its DISPLAY."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb not installed (apt-get install xvfb; .ci/run installs it)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              pass_fds=[write_fd], stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def screenshot(display: str) -> np.ndarray:
    """The whole X screen as a BGR image (what a person would see)."""
    from Xlib import X
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display)
    try:
        root = connection.screen().root
        geometry = root.get_geometry()
        raw = root.get_image(0, 0, geometry.width, geometry.height, X.ZPixmap, 0xFFFFFFFF)
        return np.frombuffer(raw.data, np.uint8).reshape(geometry.height, geometry.width, 4)[..., :3].copy()
    finally:
        connection.close()


def xdotool(display: str, *args: str) -> str:
    out = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True,
                         timeout=30)
    return out.stdout


def focus_window(display: str, name: str, timeout: float = 60.0) -> str:
    """Wait for a window titled `name` to appear and give it the keyboard (there is no window manager)."""
    import time

    if not shutil.which("xdotool"):
        pytest.skip("xdotool not installed (apt-get install xdotool; make system-deps installs it)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = xdotool(display, "search", "--name", name).split()
        if found:
            xdotool(display, "windowfocus", "--sync", found[0])
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no window {name!r} appeared on {display}")
