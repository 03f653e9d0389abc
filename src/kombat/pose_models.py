"""Fetch BlazePose's two models from the mediapipe wheel on PyPI into `pose.models_dir`, sha256 checked.

    python -m kombat.pose_models              # into params.yaml's pose.models_dir (make setup runs this)
    python -m kombat.pose_models --wheel W.whl  # from a wheel already here (an offline machine)
    python -m kombat.pose_models --if-reachable # make setup: offline, a note instead of an error

pip downloads the wheel (no install: mediapipe pins a protobuf TensorFlow cannot share), the two
files are read out of it, and each is kept only if its sha256 is the one kombat.pose.MODELS states.
Never from a model hub. Files already there and correct are left alone, so it runs offline after once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from kombat import schema
from kombat.errors import DataError, KombatError
from kombat.pose import MODELS, WHEEL, sha256


def missing_models(models_dir: Path) -> list[str]:
    """The models (names of kombat.pose.MODELS) not in `models_dir` with their stated sha256."""
    return [name for name, (member, expected) in MODELS.items()
            if not (Path(models_dir) / Path(member).name).is_file()
            or sha256(Path(models_dir) / Path(member).name) != expected]


def extract_models(wheel: Path, models_dir: Path) -> list[str]:
    """Read each model out of the wheel (a zip) into `models_dir`; a file whose sha256 differs from the
    stated one stops with DataError and is not written. Returns the names written."""
    models_dir.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{wheel}: not a wheel (zip): {exc}") from None
    with archive:
        for name, (member, expected) in MODELS.items():
            try:
                data = archive.read(member)
            except KeyError:
                raise DataError(f"{wheel}: has no {member} (the {name} model)") from None
            found = hashlib.sha256(data).hexdigest()
            if found != expected:
                raise DataError(f"{wheel}: {member} has sha256 {found}, not the {expected} kombat states "
                                f"(kombat.pose.MODELS); not written")
            target = models_dir / Path(member).name
            staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            staging.write_bytes(data)
            os.replace(staging, target)
            written.append(name)
    return written


class Unreachable(DataError):
    """pip could not download the wheel (no network, no index holding it): nothing was checked or written."""


def download_wheel(folder: Path) -> Path:
    """The mediapipe wheel for this machine, downloaded by pip from PyPI (or pip's configured index)."""
    command = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary=:all:", "-q",
               "-d", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise Unreachable(f"pip download {WHEEL}: {last}")
    return wheels[0]


def fetch(models_dir: Path, wheel: Path | None = None) -> str:
    if not missing_models(models_dir):
        return f"BlazePose models in {models_dir}: present, sha256 as stated"
    if wheel is not None:
        written = extract_models(wheel, models_dir)
    else:
        with tempfile.TemporaryDirectory() as folder:
            written = extract_models(download_wheel(Path(folder)), models_dir)
    return f"BlazePose models in {models_dir}: {', '.join(written)} read from {WHEEL}, sha256 as stated"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kombat.pose_models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models-dir", type=Path, help="default: params.yaml's pose.models_dir")
    parser.add_argument("--wheel", type=Path, help="a mediapipe wheel already downloaded")
    parser.add_argument("--if-reachable", action="store_true",
                        help="a download that fails is a note, not an error (an offline machine: the pose input "
                             "then stops at extract, saying so); a file with another sha256 is always an error")
    args = parser.parse_args(argv)
    try:
        models_dir = args.models_dir or Path(schema.load(args.params).pose.models_dir)
        print(fetch(models_dir, args.wheel))
    except Unreachable as exc:
        if not args.if_reachable:
            print(f"kombat pose_models: error: {exc}", file=sys.stderr)
            return 2
        print(f"note: BlazePose models not fetched ({exc}); the pose input and its tests need them "
              f"(make pose-models, or ../shared/pose/ holding the {WHEEL} wheel)")
    except KombatError as exc:
        print(f"kombat pose_models: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
