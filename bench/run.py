"""kombat's benchmarks, side by side in one run: `make bench` (about 15 minutes on 2 cores).

    python bench/run.py            # measure, write bench/results.json, print the table
    python bench/run.py --table    # print the table of the last results (what docs/performance.md shows)

It clones the project's HEAD into a temporary folder and, there: times `make setup`, then `make demo`
with each of its stages, a no-op `dvc repro`, each stage again with its peak memory, the embed stage
on LiteRT against Keras predict and the float32 bound (nominal and measured), int8 (speed and the
head's held-out macro-F1), 4x the data (time and peak memory), one sweep job, and play's per-frame
latency with Keras and TFLite, the game page's (play.py --web in Chromium, kombat.pagetest),
and what each lever of the demo's speed saves and costs (LEVERS).
Targets live here, in the output, never in timed tests.

    python bench/run.py --only demo    # make setup and make demo in a fresh clone
    python bench/run.py --only levers  # and then what each lever of the demo's speed saves and costs
    python bench/run.py --only web     # the game page's figures alone, on this checkout's models/package
    python bench/run.py --only pose    # BlazePose's time per play tick on rendered fighters

`--only` replaces its own figures in bench/results.json (each row then says when and on what it was
measured) and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
STAGES = ("synth", "extract", "balance", "augment", "embed", "train", "evaluate", "package")


def sh(command: list[str] | str, cwd: Path, env: dict | None = None) -> tuple[float, str]:
    """Run, fail loudly, return (seconds, stdout+stderr)."""
    started = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, env=env, shell=isinstance(command, str), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"bench: `{command}` failed ({out.returncode}):\n{(out.stdout + out.stderr)[-3000:]}")
    return seconds, out.stdout + out.stderr


def peak_rss_mb(command: str, cwd: Path, env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (MB) of the largest process `command` waits for, output."""
    seconds, out = sh(f"/usr/bin/time -f 'peak_kb=%M' {command}", cwd, env)
    return seconds, max(int(kb) for kb in re.findall(r"peak_kb=(\d+)", out)) / 1024, out


def stage_seconds(out: str, stage: str) -> float:
    """The stage's own time, from its summary line `stage: ... [12.3 s]`."""
    return float(re.search(rf"^{stage}: .*\[([\d.]+) s\]$", out, re.M).group(1))


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def cpuinfo_field(cpuinfo: str, name: str) -> str | None:
    """The first value of `name` ("model name", "flags") in /proc/cpuinfo's text, or None."""
    return next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith(name)), None)


def widest_vectors(cpuinfo: str) -> str:
    """The widest vector instructions the CPU's flags name ("AVX-512", "AVX2", "" for neither): two
    machines of one model name may differ in them, and in speed with them (docs/performance.md), so a row
    says which it ran on."""
    flags = set((cpuinfo_field(cpuinfo, "flags") or "").split())
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = cpuinfo_field(cpuinfo, "model name") or platform.processor()
    cpu = ", ".join(filter(None, (model, widest_vectors(cpuinfo))))
    versions = {}
    for package in ("tensorflow-cpu", "keras", "mlflow", "dvc", "hydra-core", "imgaug", "numpy", "opencv-python"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = "?"
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), **versions}


EMBED_PROBE = """
import json, time
import numpy as np
import tensorflow as tf
from kombat import schema
from kombat.backbone import feature_model
from kombat.features import to_tflite
from kombat.lite import LiteModel
from kombat.storage import read_dataset
cfg = schema.load("params.yaml")
images = np.asarray(read_dataset("data/augmented", mmap=True).images[:1024])
model = feature_model(cfg.backbone, cfg.embed, images.shape[1:], list(cfg.backbone.candidate_layers))
model.predict(images[:64], batch_size=64, verbose=0)
t = time.perf_counter(); model.predict(images, batch_size=64, verbose=0)
keras_predict = len(images) / (time.perf_counter() - t)
lite = LiteModel(model_content=to_tflite(model, "float32")).batch
lite(images[:8])
t = time.perf_counter(); lite(images)
litert = len(images) / (time.perf_counter() - t)
single = images[:48]
model.predict(single[:1], verbose=0)
t = time.perf_counter()
for frame in single:
    model.predict(frame[None], verbose=0)
one_at_a_time = len(single) / (time.perf_counter() - t)
# What this machine's float32 arithmetic reaches: a large matrix product on every core (oneDNN).
a = tf.random.uniform((3072, 3072)); b = tf.random.uniform((3072, 3072))
tf.linalg.matmul(a, b).numpy()
t = time.perf_counter(); runs = 10
for _ in range(runs):
    tf.linalg.matmul(a, b).numpy()
gemm_gflops = runs * 2 * 3072 ** 3 / (time.perf_counter() - t) / 1e9
# What a tick's moving input costs on top of its embedding: per frame pair, as play and embed compute it.
from kombat.frames import input_image
pairs = list(zip(images[:400], images[1:401]))
cost_ms = {}
for kind, gain in (("motion", cfg.embed.motion_gain), ("flow", cfg.embed.flow_gain)):
    input_image(kind, *pairs[0], gain)
    t = time.perf_counter()
    for before, now in pairs:
        input_image(kind, before, now, gain)
    cost_ms[kind] = (time.perf_counter() - t) / len(pairs) * 1000
print(json.dumps({"keras_predict": keras_predict, "litert": litert, "one_at_a_time": one_at_a_time,
                  "gemm_gflops": gemm_gflops, "motion_ms": cost_ms["motion"], "flow_ms": cost_ms["flow"]}))
"""

# MobileNet v1 at 224x224: 569 million multiply-adds a frame (Howard et al. 2017, table 8).
MOBILENET_GFLOP = 2 * 0.569
# The nominal float32 bound for these 2 cores: 32 FLOP a cycle each (two 256-bit FMA pipes) at about 3.5 GHz.
NOMINAL_GFLOPS = 2 * 32 * 3.5


def scaled_copy(augmented: Path, out: Path, times: int) -> int:
    """The augmented data set repeated `times` over (each repeat its own clip copies), for the scaling run."""
    import numpy as np
    import pandas as pd

    images = np.load(augmented / "images.npy", mmap_mode="r")
    manifest = pd.read_csv(augmented / "manifest.csv", keep_default_na=False)
    out.mkdir(parents=True)
    big = np.lib.format.open_memmap(out / "images.npy", mode="w+", dtype=np.uint8, shape=(len(images) * times, *images.shape[1:]))
    parts = []
    for k in range(times):
        big[k * len(images):(k + 1) * len(images)] = images
        parts.append(manifest.assign(source=manifest["source"] + f"#{k}"))
    big.flush()
    pd.concat(parts).to_csv(out / "manifest.csv", index=False)
    return len(images) * times


def embed_variant(clone: Path, env: dict, name: str, augmented: str, **embed_params) -> tuple[float, float, str]:
    """The embed stage with other embed.* params into data/<name>: (stage seconds, peak MB, output)."""
    import yaml

    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["embed"].update(embed_params)
    (clone / f"{name}.params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _, peak, out = peak_rss_mb(f"python -m kombat.stages.embed --params {name}.params.yaml --augmented-dir {augmented} "
                               f"--out-dir data/{name}", clone, env)
    return stage_seconds(out, "embed"), peak, out


def head_macro_f1(clone: Path, env: dict, name: str, params: str = "params.yaml") -> float:
    """Train and evaluate the default head on data/<name> (its own models and metrics folders): test macro-F1."""
    for stage, args in (("train", f"--model-dir models_{name} --metrics-dir metrics_{name}"),
                        ("evaluate", f"--model-dir models_{name} --metrics-dir metrics_{name} --plots-dir plots_{name}")):
        sh(f"python -m kombat.stages.{stage} --params {params} --embeddings-dir data/{name} {args}", clone, env)
    return json.loads((clone / f"metrics_{name}/evaluate.json").read_text())["macro_f1"]


def play_latency(clone: Path, env: dict, backend: str) -> dict:
    video = sorted((clone / "data/synthetic/videos").glob("*.mp4"))[0]
    seconds, out = sh([str(clone / ".venv/bin/python"), "play.py", "--source", str(video), "--every-frame",
                       "--backend", backend, "--keys", "off"], clone / "models/package", env)
    match = re.search(r"play: (\d+) frames, (\d+) decisions in ([\d.]+) s.*p50 ([\d.]+) ms, p95 ([\d.]+) ms", out)
    frames, _, loop_seconds, p50, p95 = match.groups()
    return {"p50_ms": float(p50), "p95_ms": float(p95), "fps": int(frames) / float(loop_seconds)}


def web_latency(python: str, package: Path, params: Path, cwd: Path, env: dict) -> dict | None:
    """The game page's decision latency in Chromium (python -m kombat.pagetest); None without Chromium."""
    out = subprocess.run([python, "-m", "kombat.pagetest", "--package", str(package), "--params", str(params)],
                         cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"bench: no game page figures: {(out.stdout + out.stderr).strip().splitlines()[-1:]}", flush=True)
        return None
    return last_json(out.stdout)


def web_figures(web: dict | None) -> list[dict]:
    if web is None:
        return []
    note = f"play.py --web in Chromium, a held-out clip as the camera, {web['ticks']} ticks"
    return [figure("game page: frame captured -> action in the page p50", web["p50_ms"], "ms", note),
            figure("game page: frame captured -> action in the page p95", web["p95_ms"], "ms", note, target="<= 50"),
            figure("game page: play.py's decision on the page's frame p50", web["play_p50_ms"], "ms"),
            figure("game page: play.py's decision on the page's frame p95", web["play_p95_ms"], "ms")]


POSE_SIZES = ((320, 180), (1280, 720))  # the synthetic videos' frames; an HD webcam's (the same frames upscaled)


def pose_latency(models_dir: Path, ticks: int = 120) -> list[dict]:
    """BlazePose's time per play tick (kombat.pose.FramePose on the full frame, as play.py calls it): rendered
    fighters, 4 clips of `ticks` / 4 ticks at 10 fps, tracked from tick to tick, the detector when lost."""
    import numpy as np
    import cv2

    from kombat.pose import FramePose
    from kombat.synth.body import make_actor
    from kombat.synth.clips import render_clip

    clips = [render_clip(make_actor(f"bench{i}", seed=7000 + i), seed=100 + i, seconds=ticks / 40, fps=10,
                         size=POSE_SIZES[0], hard_negative_rate=0.5, occlusion_rate=0.0, noise=1.0) for i in range(4)]
    figures = []
    for size in POSE_SIZES:
        times, found, detector = [], 0, 0
        for clip in clips:
            find = FramePose(models_dir, 1, (100, 56))
            for frame in clip.frames:
                bgr = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), size, interpolation=cv2.INTER_LINEAR)
                started = time.perf_counter()
                landmarks = find(bgr)
                times.append((time.perf_counter() - started) * 1000)
                found += bool(landmarks[..., 4].any())
            detector += find.tracker.detector_runs
        note = (f"{size[0]}x{size[1]}, {len(times)} ticks of 4 rendered clips, a person found in {found}, "
                f"the detector run on {detector}")
        figures += [figure(f"play: pose per tick p50 ({size[0]}x{size[1]})", float(np.percentile(times, 50)), "ms", note),
                    figure(f"play: pose per tick p95 ({size[0]}x{size[1]})", float(np.percentile(times, 95)), "ms")]
    return figures


def fresh_clone() -> tuple[Path, dict]:
    """HEAD cloned into a temporary folder, and an environment without this checkout's venv."""
    work = Path(tempfile.mkdtemp(prefix="kombat-bench-"))
    clone = work / "kombat"
    sh(["git", "clone", "-q", str(ROOT), str(clone)], work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "MAKE", "MFLAGS"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT)))
    if "KERAS_HOME" not in env and (ROOT / ".cache/keras").is_dir():
        env["KERAS_HOME"] = str(ROOT / ".cache/keras")
    print(f"bench: fresh clone in {clone}", flush=True)
    return clone, env


def installer_used(setup_out: str, env: dict) -> str:
    """Which installer `make setup` ran, as the Makefile chooses: INSTALLER, else uv where it is on PATH;
    "pip (uv failed)" where the Makefile's note says so. The note as echoed, a line of its own: make also
    prints the recipe, which holds the same words."""
    installer = env.get("INSTALLER") or ("uv" if shutil.which("uv", path=env["PATH"]) else "pip")
    if any(line.startswith("note: uv could not install") for line in setup_out.splitlines()):
        return "pip (uv failed)"
    return installer


def demo_figures(clone: Path, env: dict) -> tuple[list[dict], dict]:
    """`make setup`, then `make demo` in a fresh clone, with the time of each of the demo's stages."""
    setup_s, setup_out = sh(["make", "setup"], clone, env)
    demo_s, out = sh(["make", "demo"], clone, env)
    print(f"bench: make setup {setup_s:.0f} s, make demo {demo_s:.0f} s", flush=True)
    stage_s = {stage: stage_seconds(out, stage) for stage in STAGES}
    installer = installer_used(setup_out, env)
    if installer == "pip (uv failed)":
        print(f"bench: uv failed; make setup said:\n{setup_out[-3000:]}", flush=True)
    bytecode = "PYTHONDONTWRITEBYTECODE set: imports write no .pyc" if env.get("PYTHONDONTWRITEBYTECODE") else ""
    return [figure("make setup in a fresh clone", setup_s, "s", "; ".join(filter(None, (installer, bytecode)))),
            figure("make demo after setup", demo_s, "s", target="<= 300"),
            *[figure(f"make demo: stage {stage}", seconds, "s") for stage, seconds in stage_s.items()]], stage_s


# What each lever of the default's speed saves and costs: the embed stage on the demo's augmented
# frames, and the default head's held-out macro-F1 on what it wrote (one split, the pipeline's seed).
LEVERS = {
    "square 224x224, motion and flow (the default until 2026-12)":
        dict(keep_aspect=False, candidate_inputs=["motion", "flow"], precision="float32"),
    "square 224x224, motion only": dict(keep_aspect=False, candidate_inputs=["motion"], precision="float32"),
    "224x128 (the frame's shape), motion only": dict(keep_aspect=True, candidate_inputs=["motion"], precision="float32"),
    "224x128, motion only, int8": dict(keep_aspect=True, candidate_inputs=["motion"], precision="int8"),
    "192x108, motion only": dict(keep_aspect=True, candidate_inputs=["motion"], input_size=192, precision="float32"),
}


def lever_figures(clone: Path, env: dict) -> list[dict]:
    figures = []
    for k, (name, change) in enumerate(LEVERS.items()):
        seconds, _, _ = embed_variant(clone, env, f"emb_lever{k}", "data/augmented", **change)
        # The head reads the default's keys: train it with the variant's params next to its embeddings.
        f1 = head_macro_f1(clone, env, f"emb_lever{k}", params=f"emb_lever{k}.params.yaml")
        print(f"bench: lever {name}: embed {seconds:.0f} s, macro-F1 {f1:.3f}", flush=True)
        figures += [figure(f"lever: {name}: embed stage", seconds, "s"),
                    figure(f"lever: {name}: held-out macro-F1", f1, "ratio")]
    return figures


def measure() -> dict:
    clone, env = fresh_clone()
    demo, _ = demo_figures(clone, env)
    venv_env = {**env, "PATH": f"{clone / '.venv/bin'}{os.pathsep}{env['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    noop_s, _ = sh(["dvc", "repro"], clone, venv_env)

    stages, outputs = {}, {}
    for stage in STAGES:
        seconds, peak, outputs[stage] = peak_rss_mb(f"dvc repro --force --single-item {stage}", clone, venv_env)
        stages[stage] = {"seconds": round(seconds, 1), "own_seconds": stage_seconds(outputs[stage], stage),
                         "peak_mb": round(peak)}
        print(f"bench: {stage} {seconds:.1f} s, peak {peak:.0f} MB", flush=True)

    meta = json.loads((clone / "data/embeddings/meta.json").read_text())
    frames = meta["frames"] * len(meta["inputs"])  # each frame is embedded once per input (still, motion, flow)
    stage_rate = frames / stages["embed"]["own_seconds"]  # model loading, conversion, check, reading and writing included
    probe = last_json(sh([str(clone / ".venv/bin/python"), "-c", EMBED_PROBE], clone, venv_env)[1])
    augmented = int(re.search(r"-> (\d+) with", outputs["augment"]).group(1))
    augment_rate = augmented / stages["augment"]["own_seconds"]
    print("bench: embed probe done", flush=True)

    int8_s, int8_peak, _ = embed_variant(clone, venv_env, "emb_int8", "data/augmented", precision="int8")
    f1 = {"float32": json.loads((clone / "metrics/evaluate.json").read_text())["macro_f1"],
          "int8": head_macro_f1(clone, venv_env, "emb_int8")}
    print(f"bench: int8 {int8_s:.1f} s, macro-F1 {f1['int8']:.3f} (float32 {f1['float32']:.3f})", flush=True)
    n4 = scaled_copy(clone / "data/augmented", clone / "data/augmented_x4", 4)
    x4_s, x4_peak, _ = embed_variant(clone, venv_env, "emb_x4", "data/augmented_x4")
    print(f"bench: 4x data {x4_s:.1f} s, peak {x4_peak:.0f} MB", flush=True)

    job_s, _ = sh([str(clone / ".venv/bin/python"), "-m", "kombat.sweep", "--multirun", "train.seed=44"], clone,
                  venv_env)
    full_repro_s = sum(stage["seconds"] for stage in stages.values())
    play = {backend: play_latency(clone, venv_env, backend) for backend in ("tflite", "keras")}
    web = web_latency(str(clone / ".venv/bin/python"), clone / "models/package", clone / "params.yaml", clone, venv_env)

    return {
        "machine": machine(),
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "figures": [
            figure("embed stage (LiteRT float32, XNNPACK)", stage_rate, "frames/s",
                   f"{frames} frames at 224x224, conversion and check against Keras included", target=">= 150"),
            figure("embed LiteRT float32, frames in memory", probe["litert"], "frames/s"),
            figure("embed Keras predict, frames in memory (the old stage's ceiling)", probe["keras_predict"], "frames/s"),
            figure("embed stage / Keras predict", stage_rate / probe["keras_predict"], "ratio"),
            figure("float32 bound, nominal (2 cores x 32 FLOP/cycle x 3.5 GHz / 1.14 GFLOP a frame)",
                   NOMINAL_GFLOPS / MOBILENET_GFLOP, "frames/s"),
            figure("embed stage / nominal float32 bound", stage_rate / (NOMINAL_GFLOPS / MOBILENET_GFLOP), "ratio",
                   target=">= 0.75"),
            figure("float32 bound, measured (a 3072x3072 matrix product on 2 cores / 1.14 GFLOP a frame)",
                   probe["gemm_gflops"] / MOBILENET_GFLOP, "frames/s", f"{probe['gemm_gflops']:.0f} GFLOP/s"),
            figure("embed stage / measured float32 bound", stage_rate / (probe["gemm_gflops"] / MOBILENET_GFLOP), "ratio"),
            figure("flow image (DIS optical flow, median removed) per frame", probe["flow_ms"], "ms",
                   "100x56 frames upscaled to 200x112, one core's share"),
            figure("motion image (frame difference) per frame", probe["motion_ms"], "ms"),
            figure("embed one image at a time (the article's way: Keras predict per image)", probe["one_at_a_time"],
                   "frames/s"),
            figure("embed stage, int8", frames / int8_s, "frames/s", f"peak {int8_peak:.0f} MB"),
            figure("int8 / float32 embed stage", (frames / int8_s) / stage_rate, "ratio", target=">= 2"),
            figure("held-out macro-F1, float32 embeddings", f1["float32"], "ratio"),
            figure("held-out macro-F1, int8 embeddings (same head, same seed)", f1["int8"], "ratio"),
            figure("embed stage at 4x the data", n4 * len(meta["inputs"]) / x4_s, "frames/s",
                   f"{n4 * len(meta['inputs'])} frames in {x4_s:.0f} s"),
            figure("embed time, 4x data / 1x data (linear: 4)", x4_s / stages["embed"]["own_seconds"], "ratio"),
            figure("embed peak memory, 1x data", stages["embed"]["peak_mb"], "MB"),
            figure("embed peak memory, 4x data", x4_peak, "MB"),
            figure("augment stage", augment_rate, "images/s", f"{augmented} augmented images, 100x56"),
            figure("sweep job (one head on cached embeddings)", job_s, "s", target="<= 15"),
            figure("full dvc repro, same config (sum of stages)", full_repro_s, "s"),
            figure("sweep job / full repro", job_s / full_repro_s, "ratio"),
            figure("play TFLite p50", play["tflite"]["p50_ms"], "ms"),
            figure("play TFLite p95", play["tflite"]["p95_ms"], "ms", target="<= 25"),
            figure("play Keras p50", play["keras"]["p50_ms"], "ms"),
            figure("play Keras p95", play["keras"]["p95_ms"], "ms"),
            figure("play TFLite sustained on a video file", play["tflite"]["fps"], "frames/s"),
            figure("play Keras sustained on a video file", play["keras"]["fps"], "frames/s"),
            *web_figures(web),
            *demo,
            *lever_figures(clone, venv_env),
            figure("no-op dvc repro", noop_s, "s", target="<= 5"),
            *[figure(f"stage {name}: time / peak memory", stage["seconds"], "s", f"peak {stage['peak_mb']} MB")
              for name, stage in stages.items()],
        ],
    }


def figure(name: str, value: float, unit: str, note: str = "", target: str = "") -> dict:
    met = None
    if target:
        op, bound = target.split()
        met = value >= float(bound) if op == ">=" else value <= float(bound)
    return {"name": name, "value": round(value, 3 if unit == "ratio" else 1), "unit": unit, "target": target,
            "met": met, "note": note}


def merged(results: dict, figures: list[dict], when: str, cpu: str) -> dict:
    """results.json with `figures` (measured `when` on a `cpu`) in place of the figures of the same names,
    new ones at the end; every other figure keeps its own date."""
    fresh = {f["name"]: {**f, "when": when, "cpu": cpu} for f in figures}
    kept = [fresh.pop(f["name"], f) for f in results["figures"]]
    return {**results, "figures": [*kept, *fresh.values()]}


def table(results: dict) -> str:
    m = results["machine"]
    lines = [f"Measured {results['when']} on {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
             f"tensorflow-cpu {m['tensorflow-cpu']}, keras {m['keras']}, mlflow {m['mlflow']}, dvc {m['dvc']}, "
             "but where a row says when and where it was measured (`--only`).",
             "", "| figure | value | target | | measured |", "|---|---|---|---|---|"]
    for f in results["figures"]:
        mark = {True: "met", False: "**missed**", None: ""}[f["met"]]
        note = f" ({f['note']})" if f["note"] else ""
        measured = f"{f['when']}, {f['cpu']}" if "when" in f else ""
        lines.append(f"| {f['name']}{note} | {f['value']:g} {f['unit']} | {f['target']} | {mark} | {measured} |")
    return "\n".join(lines)


def record(figures: list[dict]) -> None:
    """`--only`'s figures into bench/results.json (merged), and its table printed."""
    results = merged(json.loads(RESULTS.read_text()), figures, time.strftime("%Y-%m-%d %H:%M"), machine()["cpu"])
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="store_true", help="print the table of bench/results.json only")
    parser.add_argument("--only", choices=["demo", "levers", "web", "pose"], help="measure only these figures, in a "
                        "fresh clone (web: on this checkout's models/package, pose: with this checkout's BlazePose "
                        "models), merged into bench/results.json; levers runs the demo first")
    args = parser.parse_args(argv)
    if args.only == "pose":
        from kombat import schema

        models_dir = ROOT / schema.load(ROOT / "params.yaml").pose.models_dir
        record(pose_latency(models_dir))
        return 0
    if args.only == "web":
        web = web_latency(sys.executable, ROOT / "models/package", ROOT / "params.yaml", ROOT, dict(os.environ))
        if web:
            record(web_figures(web))
        return 0 if web else 1
    if args.only in ("demo", "levers"):
        clone, env = fresh_clone()
        figures, _ = demo_figures(clone, env)
        if args.only == "levers":
            venv_env = {**env, "PATH": f"{clone / '.venv/bin'}{os.pathsep}{env['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "2"}
            figures += lever_figures(clone, venv_env)
        record(figures)
        return 0
    if not args.table:
        started = time.perf_counter()
        results = measure()
        results["bench_seconds"] = round(time.perf_counter() - started)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(json.loads(RESULTS.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
