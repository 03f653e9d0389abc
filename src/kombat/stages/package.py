"""Package: the champion run as a folder a person plays with.

The champion is the best finished run of the experiment by `package.metric` (a validation
metric, never a test one), among pipeline and sweep runs scored on the same frames. Its model
(frame in, probabilities out) is registered in the MLflow model registry under `package.alias`,
and models/package/ gets embedder.* and head.* (Keras and TFLite), labels.json, play.json, play.py and a model
card. After a sweep, `dvc repro --force --single-item package` re-chooses (DVC cannot see new MLflow runs).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from kombat import schema, tracking, training
from kombat.cli import stage_main
from kombat.errors import DataError, KombatError
from kombat.metrics import confusion, confusion_png
from kombat.schema import KombatConfig
from kombat.data import VALIDATION_MEANS, split_unit_of
from kombat.storage import atomic_dir, file_digest, read_dataset, read_manifest

KOMBAT_DIR = Path(__file__).resolve().parents[1]
# play.py and the modules it imports, copied into the package as they are (they import no kombat code there)
PLAYER_FILES = ("play.py", "frames.py", "lite.py", "video.py")
CHECK_FRAMES = 48  # consecutive test ticks on which Keras and TFLite must agree


@dataclass(frozen=True)
class Candidate:
    run_id: str
    name: str
    kind: str
    metric: float
    start_time: int


def choose_champion(candidates: list[Candidate]) -> Candidate:
    """Highest validation metric; on a tie, the newest run."""
    if not candidates:
        raise DataError("no finished run with a logged head (on float32 embeddings) on these frames: "
                        "run `dvc repro train` or a sweep first")
    return max(candidates, key=lambda c: (c.metric, c.start_time))


def find_candidates(cfg: KombatConfig, manifest_fingerprint: str) -> list[Candidate]:
    import mlflow

    experiment = tracking.experiment_id(cfg)
    runs = mlflow.MlflowClient().search_runs(
        [experiment],
        filter_string=(f"params.manifest_fingerprint = '{manifest_fingerprint}' and "
                       f"tags.`{tracking.CANDIDATE_TAG}` = 'true' and attributes.status = 'FINISHED'"),
        max_results=5000)
    # Play embeds with a float32 model: a head trained on float16 or int8 embeddings would see other
    # numbers than it learned from, so those runs are measured (README, Performance) but never packaged.
    return [Candidate(run.info.run_id, run.info.run_name or "", run.data.tags.get("kombat.kind", "?"),
                      run.data.metrics[cfg.package.metric], run.info.start_time)
            for run in runs if cfg.package.metric in run.data.metrics
            and run.data.params.get("embedder", "keras-float32").endswith("float32")]


def load_champion(cfg: KombatConfig, champion: Candidate) -> tuple[KombatConfig, object]:
    """The champion's own config and trained head, downloaded from its run."""
    import keras
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        config_path = mlflow.artifacts.download_artifacts(run_id=champion.run_id,
                                                          artifact_path=tracking.CONFIG_ARTIFACT, dst_path=tmp)
        head_path = mlflow.artifacts.download_artifacts(run_id=champion.run_id,
                                                        artifact_path=tracking.HEAD_ARTIFACT, dst_path=tmp)
        # Over today's config: a run logged before a key existed gets today's value for it.
        logged = OmegaConf.merge(schema.to_dict(cfg), json.loads(Path(config_path).read_text()))
        run_cfg = schema.validate(logged, source=f"run {champion.run_id} config")
        return run_cfg, keras.models.load_model(head_path)


def test_clip_frames(frames_dir: Path, count: int) -> np.ndarray:
    """The first `count` ticks of the first test clip (uint8 RGB, consecutive), to check the exported
    models on as play runs them: the warm-up of the ring buffers included."""
    dataset = read_dataset(frames_dir, mmap=True)
    test = dataset.manifest.index[dataset.manifest["split"] == "test"]
    if not len(test):
        raise DataError(f"{frames_dir}: no test frames to check the exported model on")
    clip = dataset.manifest.index[dataset.manifest["source"] == dataset.manifest.loc[test[0], "source"]]
    return np.asarray(dataset.images[clip[:count].to_numpy()])


def log_and_register(cfg: KombatConfig, champion: Candidate, frames: np.ndarray, probabilities: np.ndarray,
                     package_dir: Path) -> str:
    """Log the package into the champion's run as an MLflow model that plays a clip (mlflow_model.py),
    register it, point the alias at it."""
    import av
    import mlflow
    import tensorflow as tf
    from mlflow.models import infer_signature

    client = mlflow.MlflowClient()
    existing = client.search_model_versions(f"name = '{cfg.package.model_name}' and run_id = '{champion.run_id}'")
    if existing:  # packaged before: same run, same weights
        version = max(existing, key=lambda v: int(v.version)).version
    else:
        with tracking.run_context(cfg, run_id=champion.run_id):
            info = mlflow.pyfunc.log_model(
                name="play_model", python_model=str(KOMBAT_DIR / "mlflow_model.py"),
                artifacts={"package": str(package_dir)}, signature=infer_signature(frames[:2], probabilities[:2]),
                pip_requirements=[f"tensorflow-cpu=={tf.__version__}", "opencv-python", f"av=={av.__version__}",
                                  f"mlflow=={mlflow.__version__}"])
            mlflow.log_artifacts(str(package_dir), "package")
        version = mlflow.register_model(info.model_uri, cfg.package.model_name).version
    client.set_registered_model_alias(cfg.package.model_name, cfg.package.alias, version)
    return str(version)


def model_card(cfg: KombatConfig, run_cfg: KombatConfig, champion: Candidate, n_candidates: int, scores: dict,
               matrix: np.ndarray, max_diff: float, n_check: int, fingerprint: str, version: str, split_by: str) -> str:
    classes = list(run_cfg.classes)
    params = tracking.run_params(run_cfg)
    table = "\n".join(f"| {k} | {v} |" for k, v in params.items())
    header = "| actual \\ predicted | " + " | ".join(classes) + " |\n|---|" + "---|" * len(classes)
    rows = "\n".join(f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(classes, matrix))
    per_class = "\n".join(f"| {c} | {scores[f'precision_{c}']:.3f} | {scores[f'recall_{c}']:.3f} | "
                          f"{scores[f'f1_{c}']:.3f} |" for c in classes)
    commit = tracking.git_commit()
    return f"""# kombat body controller: `{cfg.package.model_name}@{cfg.package.alias}` (version {version})

A webcam frame in every {1 / run_cfg.extract.fps:g} s, {' / '.join(classes)} probabilities out: the
{' and '.join(run_cfg.embed.input_parts)} image of each tick through {run_cfg.backbone.name} ({run_cfg.backbone.weights}) up to
`{run_cfg.embed.layer}`, global average pooling, and a `{run_cfg.head.name}` head over the last
{run_cfg.head.window} tick(s), trained by kombat.

- **MLflow run**: `{champion.run_id}` ("{champion.name}", a {champion.kind} run), experiment `{cfg.mlflow.experiment}`
- **Chosen by**: highest `{cfg.package.metric}` = {champion.metric:.4f} among {n_candidates} finished runs on the
  same frames (manifest `{fingerprint}`); the test figures below played no part in the choice.
- **Data**: {run_cfg.data.source.value} ({run_cfg.data.raw_dir}), frames {run_cfg.extract.width}x{run_cfg.extract.height}
  at {run_cfg.extract.fps:g} fps, {run_cfg.augment.copies} augmented copies per training clip.
- **How it was validated**: split by {split_by}: {VALIDATION_MEANS[split_by]}.

## Parameters
| param | value |
|---|---|
{table}

## Test scores (held-out {split_by}s, {int(matrix.sum())} frames)
accuracy {scores['accuracy']:.3f}, balanced accuracy {scores['balanced_accuracy']:.3f}, **macro-F1 {scores['macro_f1']:.3f}**

| class | precision | recall | F1 |
|---|---|---|---|
{per_class}

{header}
{rows}

![confusion matrix](confusion_matrix.png)

## Files
- `embedder.keras`: uint8 RGB images (N, {run_cfg.extract.height}, {run_cfg.extract.width}, 3) -> pooled embeddings;
  `head.keras`: (N, {run_cfg.head.window}, embedding size) -> probabilities. play.py runs them tick by tick.
- `embedder.tflite`, `head.tflite`: the same for fast CPU play. Played tick by tick over {n_check} consecutive test
  frames, the largest difference between the two was {max_diff:.2e} (allowed: {cfg.package.tolerance:g}).
- `labels.json` (output order, frame size), `play.json` (thresholds, cooldown, keys; edit freely), `play.py`
  with `frames.py` (the training frames' preprocessing), `lite.py` (the TFLite runner) and `video.py` (video
  files decoded with their timestamps).

## Play
    pip install tensorflow-cpu opencv-python av pynput   # or ai-edge-litert instead of tensorflow
    python play.py                                    # webcam 0; keys: {', '.join(f'{k} -> {v}' for k, v in cfg.play.keys.items())}
    python play.py --source clip.mp4 --json           # a video file, a JSON line per decision
    python play.py --show --keys off                  # watch it think

## Reproduce
At git commit `{commit}`: `dvc repro` (this run's params are in its MLflow run, and as
`kombat_config.json` among its artifacts; for a sweep run, `python -m kombat.sweep <its overrides>`), then
`dvc repro --force --single-item package`.
"""


def write_package(folder: Path, cfg: KombatConfig, run_cfg: KombatConfig, models: dict[str, tuple[object, bytes]],
                  labels: dict) -> None:
    """The playable folder: both models in Keras and TFLite, labels.json, play.json and the player's files."""
    for name, (keras_model, flatbuffer) in models.items():
        keras_model.save(folder / f"{name}.keras")
        (folder / f"{name}.tflite").write_bytes(flatbuffer)
    (folder / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    settings = {"nothing_class": run_cfg.task_spec.nothing, **schema.to_dict(cfg)["play"]}
    (folder / "play.json").write_text(json.dumps(settings, indent=2) + "\n")
    for name in PLAYER_FILES:
        shutil.copyfile(KOMBAT_DIR / name, folder / name)


def run(cfg: KombatConfig, embeddings_dir: Path, frames_dir: Path, out_dir: Path) -> str:
    from kombat.export import embedder_model, head_model, to_tflite
    from kombat.play import load_model

    fingerprint = file_digest(embeddings_dir / "manifest.csv")
    candidates = find_candidates(cfg, fingerprint)
    champion = choose_champion(candidates)
    run_cfg, head = load_champion(cfg, champion)

    test = training.load_splits(embeddings_dir, run_cfg, ("test",))
    scores = training.score_splits(head, test, run_cfg)
    matrix = confusion(test["test"].y, training.predict_classes(head, test["test"], run_cfg), len(run_cfg.classes))

    frames = test_clip_frames(frames_dir, CHECK_FRAMES)
    embedder, play_head = embedder_model(run_cfg, frames.shape[1:]), head_model(run_cfg, head)
    models = {"embedder": (embedder, to_tflite(embedder)), "head": (play_head, to_tflite(play_head))}
    labels = {"classes": list(run_cfg.classes), "frame_size": [run_cfg.extract.width, run_cfg.extract.height],
              "inputs": list(run_cfg.embed.input_parts), "window": run_cfg.head.window,
              "motion_gap": run_cfg.embed.motion_gap, "motion_gain": run_cfg.embed.motion_gain,
              "run_id": champion.run_id, "registered_model": f"{cfg.package.model_name}@{cfg.package.alias}"}
    with tempfile.TemporaryDirectory() as staging:
        staged = Path(staging)
        write_package(staged, cfg, run_cfg, models, labels)
        # The check runs the players play.py runs, tick by tick: Keras (the reference) against TFLite.
        played = {backend: load_model(staged, backend, labels) for backend in ("keras", "tflite")}
        expected = np.stack([played["keras"](frame) for frame in frames])
        max_diff = float(np.abs(np.stack([played["tflite"](frame) for frame in frames]) - expected).max())
        if max_diff > cfg.package.tolerance:
            raise KombatError(f"TFLite export differs from Keras by {max_diff:.2e} > package.tolerance "
                              f"{cfg.package.tolerance:g}; not packaged")
        version = log_and_register(cfg, champion, frames, expected, staged)
    with atomic_dir(out_dir) as tmp:
        write_package(tmp, cfg, run_cfg, models, {**labels, "version": version})
        confusion_png(matrix, run_cfg.classes, f"champion, test macro-F1 {scores['macro_f1']:.3f}",
                      tmp / "confusion_matrix.png")
        (tmp / "README.md").write_text(model_card(cfg, run_cfg, champion, len(candidates), scores, matrix, max_diff,
                                                  len(frames), fingerprint, version,
                                                  split_unit_of(read_manifest(embeddings_dir))))
    return (f"champion {champion.run_id} ({champion.kind}, {cfg.package.metric} {champion.metric:.3f} of "
            f"{len(candidates)} runs), test macro-F1 {scores['macro_f1']:.3f}; registered "
            f"{cfg.package.model_name} v{version} @{cfg.package.alias}; Keras vs TFLite max diff {max_diff:.1e}")


def main(argv: list[str] | None = None) -> int:
    return stage_main("package", __doc__, run, {"embeddings_dir": "embeddings folder", "frames_dir": "frames folder",
                                                "out_dir": "package folder"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
