"""Package: the champion run as a folder a person plays with.

The champion is the best finished run of the experiment by `package.metric` (a validation
metric, never a test one), among pipeline and sweep runs scored on the same frames. Its model
(frame in, probabilities out) is registered in the MLflow model registry under `package.alias`,
and models/package/ gets embedder.* and head.* (Keras and TFLite; the embedder at the precision the embed stage
embedded at, checked against that stage's embeddings: `embedder_as_embedded`), labels.json, play.json, play.py
with its game page (web.py, web/) and a model card. play.json's rule is fitted on the validation clips (kombat.play_rule;
`play.fit`), and both that rule and conf's fixed one are scored as events on the validation and test clips
(metrics/play_events.json, the card). After a sweep, `dvc repro --force --single-item package` re-chooses (DVC
cannot see new MLflow runs).
"""

from __future__ import annotations

import json
import shutil
import string
import tempfile
from pathlib import Path

import numpy as np

from kombat import play_rule, pose, schema, tracking, training
from kombat.cli import stage_main
from kombat.errors import DataError, KombatError
from kombat.features import agreement, to_tflite
from kombat.lite import LiteModel
from kombat.metrics import confusion, confusion_png, score
from kombat.schema import IMAGE_INPUTS, DataFormat, KombatConfig
from kombat.data import VALIDATION_MEANS, clip_starts, split_unit_of, window_rows
from kombat.play import EMBEDDER_CHECK_FILE, POSE_MODELS_DIR, PlayError
from kombat.storage import CHECK_IMAGES_FILE, EMBEDDINGS_META_FILE, atomic_dir, read_dataset, write_json

KOMBAT_DIR = Path(__file__).resolve().parents[1]
# play.py and the modules it imports, copied into the package as they are (they import no kombat code there)
PLAYER_FILES = ("play.py", "frames.py", "lite.py", "pose.py", "video.py", "web.py")
PAGE_DIR = "web"  # the game page's HTML, JS and CSS, which web.py serves
MODEL_CARD = "model_card.md"  # the package's README.md, a string.Template
CHECK_FRAMES = 48  # consecutive test ticks on which Keras and TFLite must agree
FIT_ONLY_KEYS = ("fit", "search", "slack_s", "fit_margin", "fit_min_recall")  # play.* keys the package stage uses and play.json does not carry
PLAY_EVENTS = "play_events.json"  # in the metrics folder: the play rules' event scores (PlayReport.as_dict)


def test_clip_frames(frames_dir: Path, count: int) -> np.ndarray:
    """The first `count` ticks of the first test clip (uint8 RGB, consecutive), to check the exported
    models on as play runs them: the warm-up of the ring buffers included."""
    dataset = read_dataset(frames_dir, mmap=True)
    test = dataset.manifest.index[dataset.manifest["split"] == "test"]
    if not len(test):
        raise DataError(f"{frames_dir}: no test frames to check the exported model on")
    clip = dataset.manifest.index[dataset.manifest["source"] == dataset.manifest.loc[test[0], "source"]]
    return np.asarray(dataset.images[clip[:count].to_numpy()])


def model_card(cfg: KombatConfig, run_cfg: KombatConfig, champion: tracking.Candidate, n_candidates: int,
               scores: dict, matrix: np.ndarray, max_diff: float, n_check: int, fingerprint: str, version: str,
               split_by: str, play_section: str, embedder_precision: str, embedder_check: str) -> str:
    """The package's README.md: model_card.md filled in (what it is, how it was chosen and validated, scores;
    the embedder's precision and what its check found: embedder_as_embedded)."""
    classes = list(run_cfg.classes)
    confusion_rows = [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(classes, matrix)]
    values = {
        "registered": f"{cfg.package.model_name}@{cfg.package.alias}", "version": version,
        "interval_s": f"{1 / run_cfg.extract.fps:g}", "classes": " / ".join(classes),
        "inputs": " and ".join(run_cfg.embed.input_parts),
        "backbone": f"{run_cfg.backbone.name} ({run_cfg.backbone.weights})", "layer": run_cfg.embed.layer,
        "head": run_cfg.head.name, "window": run_cfg.head.window,
        "run_id": champion.run_id, "run_name": champion.name, "run_kind": champion.kind,
        "experiment": cfg.mlflow.experiment, "metric": cfg.package.metric, "metric_value": f"{champion.metric:.4f}",
        "n_candidates": n_candidates, "fingerprint": fingerprint,
        "data": f"{run_cfg.data.source.value} ({run_cfg.data.raw_dir})", "width": run_cfg.extract.width,
        "height": run_cfg.extract.height, "fps": f"{run_cfg.extract.fps:g}", "copies": run_cfg.augment.copies,
        "split_by": split_by, "validation": VALIDATION_MEANS[split_by],
        "params_table": "\n".join(f"| {k} | {v} |" for k, v in tracking.run_params(run_cfg).items()),
        "test_frames": int(matrix.sum()), **{k: f"{scores[k]:.3f}" for k in ("accuracy", "balanced_accuracy", "macro_f1")},
        "per_class_table": "\n".join(f"| {c} | {scores[f'precision_{c}']:.3f} | {scores[f'recall_{c}']:.3f} | "
                                     f"{scores[f'f1_{c}']:.3f} |" for c in classes),
        "confusion_table": "\n".join(["| actual \\ predicted | " + " | ".join(classes) + " |",
                                      "|---|" + "---|" * len(classes), *confusion_rows]),
        "n_check": n_check, "max_diff": f"{max_diff:.2e}", "tolerance": f"{cfg.package.tolerance:g}",
        "keys": ", ".join(f"{k} -> {v}" for k, v in cfg.play.keys.items()), "commit": tracking.git_commit(),
        "play_rule": play_section, "embedder_precision": embedder_precision, "embedder_check": embedder_check,
        "embedder_keras": "`embedder.keras` is the same in Keras." if embedder_precision == "float32" else
        "A quantized embedder exists only in TFLite: there is no `embedder.keras`.",
        "keras_player": "Keras embedder and head" if embedder_precision == "float32" else "this embedder, the Keras head",
    }
    return string.Template((KOMBAT_DIR / MODEL_CARD).read_text()).substitute(values)


def write_package(folder: Path, cfg: KombatConfig, run_cfg: KombatConfig, models: dict[str, tuple[object, bytes]],
                  labels: dict, rule: dict | None = None, check: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """The playable folder: both models in TFLite and, where `models` holds one, Keras (a quantized embedder has
    none), labels.json, play.json (conf's play.*, with the fitted `rule`'s values in place of its own), the
    embedder's `check` (the embed stage's check images and its embeddings of them: play.py checks its runtime
    against them) and the player's files."""
    for name, (keras_model, flatbuffer) in models.items():
        if keras_model is not None:
            keras_model.save(folder / f"{name}.keras")
        (folder / f"{name}.tflite").write_bytes(flatbuffer)
    if check is not None:
        np.savez(folder / EMBEDDER_CHECK_FILE, images=check[0], embeddings=np.asarray(check[1], np.float32))
    (folder / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    play = {k: v for k, v in schema.to_dict(cfg)["play"].items() if k not in FIT_ONLY_KEYS}
    settings = {"nothing_class": run_cfg.task_spec.nothing, **play, **(rule or {})}
    (folder / "play.json").write_text(json.dumps(settings, indent=2) + "\n")
    for name in PLAYER_FILES:
        shutil.copyfile(KOMBAT_DIR / name, folder / name)
    if "pose" in run_cfg.embed.input_parts:  # BlazePose's models beside play.py, as extract used them
        (folder / POSE_MODELS_DIR).mkdir(exist_ok=True)
        for name in ("detector", "landmarks"):
            try:
                source = pose.model_path(Path(cfg.pose.models_dir), name)
            except pose.PoseModelError as exc:
                raise DataError(f"{exc} (pose.models_dir)") from None
            shutil.copyfile(source, folder / POSE_MODELS_DIR / source.name)
    shutil.copytree(KOMBAT_DIR / PAGE_DIR, folder / PAGE_DIR, dirs_exist_ok=True)


def read_check(embeddings_dir: Path, layer: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The embed stage's check images, its embeddings of them at `layer` (input by input, as meta.json's `check`
    lists them) and the precision it embedded at."""
    meta_path, images_path = embeddings_dir / EMBEDDINGS_META_FILE, embeddings_dir / CHECK_IMAGES_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if "check" not in meta or not images_path.is_file():
        raise DataError(f"{embeddings_dir}: no {CHECK_IMAGES_FILE} (the embed stage's check images): run `dvc repro embed`")
    rows = np.asarray(meta["check"]["rows"])
    stored = np.concatenate([np.load(embeddings_dir / kind / f"{layer}.npy", mmap_mode="r")[rows]
                             for kind in meta["check"]["inputs"]])
    return np.load(images_path), stored, meta["precision"]


def embedder_as_embedded(embedder, images: np.ndarray, stored: np.ndarray, precision: str, tolerance: float,
                         where: Path) -> tuple[bytes, str]:
    """Play's embedder as the embed stage ran it, so a head plays on the numbers it learned from: TFLite at the
    stage's `precision`, int8 calibrated on the stage's own check `images`. Refused unless it gives the stage's
    embeddings of them (`stored`) within `tolerance` of their largest value (embed.tolerance). Returns the
    flatbuffer and what the check found, for the model card."""
    flatbuffer = to_tflite(embedder, precision, calibration=images)
    found = agreement([stored], LiteModel(model_content=flatbuffer).batch(images))
    if found.max_relative > tolerance:
        raise KombatError(f"{where}: the {precision} play embedder differs from the embed stage's embeddings by "
                          f"{found.max_relative:.2e} of the largest value > embed.tolerance {tolerance:g} on "
                          f"{len(images)} check images; not packaged (embedded on another CPU? `dvc repro --force embed`)")
    return flatbuffer, (f"the embed stage's own, for the frames the head learned from: on its {len(images)} check "
                        f"images it gives that stage's embeddings within {found.max_relative:.1e} of their largest "
                        f"value (allowed: {tolerance:g}). `{EMBEDDER_CHECK_FILE}` holds both: play.py checks the "
                        "runtime it plays on against them when it loads.")


def play_tolerance(stored: np.ndarray, tolerance: float) -> float:
    """What play.py allows its runtime (labels.json's embedder_tolerance), relative to the largest value of the
    stage's check embeddings `stored`: `tolerance` (embed.tolerance), or one step of the embeddings' own grid where
    that is coarser. A quantized embedder's outputs lie on a grid, and kernels that round one value the other way
    give it a step apart (TensorFlow's interpreter against LiteRT, int8), and the head decides alike."""
    levels = np.unique(stored)
    step = float(np.diff(levels).min()) if len(levels) > 1 else 0.0
    return max(tolerance, 1.01 * step / max(float(np.abs(stored).max()), 1e-30))  # 1%: float32 dequantizing


def play_probabilities(head, features: np.ndarray, manifest, run_cfg: KombatConfig, rows: np.ndarray) -> np.ndarray:
    """The head's probabilities at each of `rows`, from its window of ticks as play feeds it (the cached embeddings)."""
    windows = window_rows(clip_starts(manifest), rows, run_cfg.head.window)
    split = training.Split("play", features, windows, np.zeros(len(rows), np.int64))
    return np.concatenate([training.predict_proba(head, split.gather(slice(i, i + 4096)), run_cfg)
                           for i in range(0, len(rows), 4096)]) if len(rows) else np.zeros((0, len(run_cfg.classes)))


def fit_play_rule(cfg: KombatConfig, run_cfg: KombatConfig, head, features: np.ndarray, manifest
                  ) -> play_rule.PlayReport:
    """play.json's rule, fitted on the validation clips, and its scores and the fixed rule's on validation and test."""
    rows = play_rule.play_rows(manifest)
    return play_rule.play_report(manifest.iloc[rows], play_probabilities(head, features, manifest, run_cfg, rows),
                                 run_cfg.classes, run_cfg.task_spec.nothing, cfg.play, 1 / run_cfg.extract.fps,
                                 clips=run_cfg.data.format is DataFormat.videos)


def run(cfg: KombatConfig, embeddings_dir: Path, frames_dir: Path, out_dir: Path, metrics_dir: Path) -> str:
    from kombat.export import embedder_model, head_model
    from kombat.play import load_model

    fingerprint = tracking.manifest_fingerprint(embeddings_dir)
    candidates = tracking.find_candidates(cfg, fingerprint, embeddings_dir)
    champion = tracking.choose_champion(candidates)
    run_cfg, head = tracking.load_champion(cfg, champion)

    features, manifest = training.read_features(embeddings_dir, run_cfg)
    test = training.make_splits(features, manifest, run_cfg, ("test",))["test"]
    predicted = training.predict_classes(head, test, run_cfg)  # once, for the scores and the confusion matrix
    scores, matrix = score(test.y, predicted, run_cfg.classes), confusion(test.y, predicted, len(run_cfg.classes))
    play = fit_play_rule(cfg, run_cfg, head, features, manifest)

    frames = test_clip_frames(frames_dir, CHECK_FRAMES)
    embedder, play_head = embedder_model(run_cfg, frames.shape[1:]), head_model(run_cfg, head)
    if any(kind in IMAGE_INPUTS for kind in run_cfg.embed.input_parts):
        images, stored, precision = read_check(embeddings_dir, run_cfg.embed.layer)
        embedder_tflite, embedder_check = embedder_as_embedded(embedder, images, stored, precision,
                                                               run_cfg.embed.tolerance, embeddings_dir)
        check = (images, stored)
        check_labels = {"embedder_tolerance": play_tolerance(stored, run_cfg.embed.tolerance)}
    else:
        embedder_tflite, precision = to_tflite(embedder), "float32"
        check, check_labels = None, {}
        embedder_check = "the head sees pose alone, so play never runs it."
    # A quantized embedder exists only as TFLite (Keras's float32 would give numbers the head never saw).
    models = {"embedder": (embedder if precision == "float32" else None, embedder_tflite),
              "head": (play_head, to_tflite(play_head))}
    labels = {"classes": list(run_cfg.classes), "frame_size": [run_cfg.extract.width, run_cfg.extract.height],
              "tick_s": 1 / run_cfg.extract.fps,
              "inputs": list(run_cfg.embed.input_parts), "embedder_precision": precision, "window": run_cfg.head.window,
              "motion_gap": run_cfg.embed.motion_gap, "gains": run_cfg.embed.gains, "pose_people": run_cfg.pose.people,
              "run_id": champion.run_id, "registered_model": f"{cfg.package.model_name}@{cfg.package.alias}", **check_labels}
    with tempfile.TemporaryDirectory() as staging:
        staged = Path(staging)
        write_package(staged, cfg, run_cfg, models, labels, play.chosen, check)
        # The check runs the players play.py runs, tick by tick: Keras (the reference) against TFLite.
        try:
            played = {backend: load_model(staged, backend, labels) for backend in ("keras", "tflite")}
        except PlayError as exc:
            raise KombatError(f"{exc}; not packaged") from None
        expected = np.stack([played["keras"](frame) for frame in frames])
        max_diff = float(np.abs(np.stack([played["tflite"](frame) for frame in frames]) - expected).max())
        if max_diff > cfg.package.tolerance:
            raise KombatError(f"TFLite export differs from Keras by {max_diff:.2e} > package.tolerance "
                              f"{cfg.package.tolerance:g}; not packaged")
        version = tracking.log_and_register(cfg, champion, staged, KOMBAT_DIR / "mlflow_model.py", frames, expected)
    with atomic_dir(out_dir) as tmp:
        write_package(tmp, cfg, run_cfg, models, {**labels, "version": version}, play.chosen, check)
        confusion_png(matrix, run_cfg.classes, f"champion, test macro-F1 {scores['macro_f1']:.3f}",
                      tmp / "confusion_matrix.png")
        split_by = split_unit_of(manifest)
        (tmp / "README.md").write_text(model_card(cfg, run_cfg, champion, len(candidates), scores, matrix, max_diff,
                                                  len(frames), fingerprint, version, split_by,
                                                  play_rule.markdown(play, run_cfg.task_spec.nothing, split_by),
                                                  precision, embedder_check))
    metrics_dir.mkdir(parents=True, exist_ok=True)
    write_json(metrics_dir / PLAY_EVENTS, play.as_dict())
    val, test_events = (play.scores[split]["chosen"].total for split in ("val", "test"))
    fixed_val = play.scores["val"]["fixed"].total
    if play.min_recall > 0:  # chosen by precision at a recall floor: F1 may fall below the fixed rule's
        validation = (f"validation event precision {val.precision:.2f}, recall {val.recall:.2f} (fixed rule "
                      f"{fixed_val.precision:.2f}, {fixed_val.recall:.2f}; floor {play_rule.share(play.min_recall)})")
    else:
        validation = f"validation event F1 {val.f1:.2f} (fixed rule {fixed_val.f1:.2f})"
    return (f"champion {champion.run_id} ({champion.kind}, {cfg.package.metric} {champion.metric:.3f} of "
            f"{len(candidates)} runs), test macro-F1 {scores['macro_f1']:.3f}; registered "
            f"{cfg.package.model_name} v{version} @{cfg.package.alias}; Keras vs TFLite max diff {max_diff:.1e}; "
            f"play rule {'fitted' if play.fitted else 'fixed'} ({play_rule.describe(play.chosen, run_cfg.task_spec.nothing)}): "
            f"{validation}, test event precision "
            f"{test_events.precision:.2f}, recall {test_events.recall:.2f}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("package", __doc__, run, {"embeddings_dir": "embeddings folder", "frames_dir": "frames folder",
                                                "out_dir": "package folder", "metrics_dir": "metrics folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
