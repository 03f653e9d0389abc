"""The typed configuration shared by DVC (`params.yaml`) and Hydra (`conf/`): types and checks only.

Every default (and what it means) is stated once, in conf/; here every field is MISSING, so a key
that params.yaml lacks stops the run, named, like a typo or a wrong type does, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from kombat.errors import ConfigError
from kombat.tasks import TASKS, Task


class DataSource(str, Enum):
    synthetic = "synthetic"  # rendered by the synth stage
    recordings = "recordings"  # the user's own clips under data/raw/


class DataFormat(str, Enum):
    videos = "videos"  # videos/ plus annotations.csv
    folders = "folders"  # punch/, kick/, other/ folders of images, the article's way


@dataclass
class SynthConfig:
    actors: int = MISSING
    clips_per_actor: int = MISSING
    clip_seconds: float = MISSING
    fps: int = MISSING
    width: int = MISSING
    height: int = MISSING
    seed: int = MISSING
    # Difficulty knobs (docs/synthetic-data.md).
    hard_negative_rate: float = MISSING
    occlusion_rate: float = MISSING
    noise: float = MISSING
    # Another place (docs/synthetic-data.md): what moves besides the fighter.
    shake: float = MISSING
    sway_rate: float = MISSING
    passerby_rate: float = MISSING
    flicker: float = MISSING
    shifted_actors: int = MISSING


@dataclass
class DataConfig:
    source: DataSource = MISSING
    format: DataFormat = MISSING
    raw_dir: str = MISSING
    annotations: str = MISSING
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass
class ExtractConfig:
    fps: float = MISSING
    width: int = MISSING
    height: int = MISSING
    every_frame: bool = MISSING
    strict: bool = MISSING


SPLIT_UNITS = ("auto", "actor", "take")


@dataclass
class SplitConfig:
    by: str = MISSING
    test_actors: list[str] = MISSING
    val_actors: list[str] = MISSING
    test_fraction: float = MISSING
    val_fraction: float = MISSING
    seed: int = MISSING


BALANCE_METHODS = ("cut", "weight")  # balance.method (kombat.data.balance_mask)


@dataclass
class BalanceConfig:
    splits: list[str] = MISSING
    method: str = MISSING
    seed: int = MISSING


@dataclass
class AugmentConfig:
    copies: int = MISSING
    seed: int = MISSING
    splits: list[str] = MISSING


@dataclass
class BackboneConfig:
    name: str = MISSING
    weights: str = MISSING
    alpha: float = MISSING
    candidate_layers: list[str] = MISSING


# What the backbone can see of a tick (kombat.frames.input_image): the frame, or how it moved since
# `motion_gap` ticks: the frame difference, or the optical flow relative to the camera.
IMAGE_INPUTS = ("still", "motion", "flow")
# What the head can see of a tick: the backbone's embedding of an image input, or the body's pose (BlazePose's
# landmarks, found on the full-size frame: kombat.pose.pose_features), side by side as `embed.input` a+b says.
INPUTS = (*IMAGE_INPUTS, "pose")
RUNTIMES = ("litert", "keras")  # embed.runtime
PRECISIONS = ("float32", "float16", "int8")  # embed.precision (litert)
ENGINES = ("local", "ray")  # embed.engine


@dataclass
class EmbedConfig:
    input: str = MISSING
    candidate_inputs: list[str] = MISSING
    motion_gap: int = MISSING
    motion_gain: float = MISSING
    flow_gain: float = MISSING
    layer: str = MISSING
    input_size: int = MISSING
    keep_aspect: bool = MISSING
    grayscale: bool = MISSING
    batch_size: int = MISSING
    runtime: str = MISSING
    precision: str = MISSING
    tolerance: float = MISSING
    min_cosine: float = MISSING
    check_frames: int = MISSING
    shard_frames: int = MISSING
    engine: str = MISSING
    ray_address: str = MISSING

    @property
    def embedder(self) -> str:
        """What made the embeddings, as runs log it (`embedder`): litert-float32, litert-int8, keras-float32."""
        return f"{self.runtime}-{self.precision if self.runtime == 'litert' else 'float32'}"

    @property
    def gains(self) -> dict[str, float]:
        """Each moving input's gain (kombat.frames.input_image): play gets the same, in labels.json."""
        return {"motion": self.motion_gain, "flow": self.flow_gain}

    @property
    def input_parts(self) -> tuple[str, ...]:
        """The cached inputs `input` puts side by side: 'still+motion' -> ('still', 'motion')."""
        return tuple(self.input.split("+"))

    @property
    def embedded_inputs(self) -> tuple[str, ...]:
        """What the embed stage embeds: the run's own inputs and the candidates a sweep may name, in INPUTS order."""
        wanted = {*self.input_parts, *self.candidate_inputs}
        return tuple(name for name in INPUTS if name in wanted)

    @property
    def embedded_images(self) -> tuple[str, ...]:
        """The embedded inputs the backbone embeds (all but pose)."""
        return tuple(name for name in self.embedded_inputs if name in IMAGE_INPUTS)

    @property
    def needs_pose(self) -> bool:
        """Whether extract finds landmarks (on the full-size frames) and embed turns them into the pose input."""
        return "pose" in self.embedded_inputs


@dataclass
class PoseConfig:
    people: int = MISSING
    models_dir: str = MISSING


@dataclass
class HeadConfig:
    name: str = MISSING
    units: int = MISSING
    dropout: float = MISSING
    standardize: bool = MISSING
    window: int = MISSING


@dataclass
class TrainConfig:
    lr: float = MISSING
    epochs: int = MISSING
    batch_size: int = MISSING
    patience: int = MISSING
    seed: int = MISSING


@dataclass
class TaskConfig:
    name: str = MISSING


@dataclass
class MlflowConfig:
    tracking_uri: str = MISSING
    experiment: str = MISSING


@dataclass
class PackageConfig:
    metric: str = MISSING
    model_name: str = MISSING
    alias: str = MISSING
    tolerance: float = MISSING


@dataclass
class PlaySearchConfig:
    """The values play.fit tries for each key of the rule (conf's own play.* value is always tried too)."""

    nothing_threshold: list[float] = MISSING
    strike_threshold: list[float] = MISSING
    smoothing: list[int] = MISSING
    cooldown_s: list[float] = MISSING


@dataclass
class PlayConfig:
    nothing_threshold: float = MISSING
    strike_threshold: float = MISSING
    cooldown_s: float = MISSING
    interval_s: float = MISSING
    smoothing: int = MISSING
    keys: dict[str, str] = MISSING
    fit: bool = MISSING
    search: PlaySearchConfig = field(default_factory=PlaySearchConfig)
    slack_s: float = MISSING
    fit_margin: float = MISSING
    fit_min_recall: float = MISSING


@dataclass
class RecordConfig:
    """The recorder's plan (python -m kombat.record): takes of shuffled prompts, labelled from the prompt times."""

    takes: int = MISSING
    punches: int = MISSING
    kicks: int = MISSING
    free_moves: int = MISSING
    countdown_s: float = MISSING
    strike_s: float = MISSING
    guard_s: float = MISSING
    free_s: float = MISSING
    margin_s: float = MISSING
    fps: float = MISSING
    seed: int = MISSING
    hints: list[str] = MISSING


@dataclass
class CrossvalConfig:
    folds: int = MISSING


@dataclass
class KombatConfig:
    data: DataConfig = field(default_factory=DataConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    package: PackageConfig = field(default_factory=PackageConfig)
    play: PlayConfig = field(default_factory=PlayConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    crossval: CrossvalConfig = field(default_factory=CrossvalConfig)

    def __post_init__(self) -> None:
        _check(self)

    @property
    def task_spec(self) -> Task:
        """The task object `task.name` chooses."""
        return TASKS[self.task.name]

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names in the order of the model's outputs."""
        return self.task_spec.classes


def _check(cfg: KombatConfig) -> None:
    """Rules a type alone cannot say; each names its key."""
    # head.name and backbone.name are checked by kombat.heads and kombat.backbone, which know their parts
    if cfg.task.name not in TASKS:
        raise ConfigError(f"task.name {cfg.task.name!r} is not one of {sorted(TASKS)}")
    positive = {
        "extract.fps": cfg.extract.fps,
        "extract.width": cfg.extract.width,
        "extract.height": cfg.extract.height,
        "head.units": cfg.head.units,
        "train.lr": cfg.train.lr,
        "train.epochs": cfg.train.epochs,
        "train.batch_size": cfg.train.batch_size,
        "embed.batch_size": cfg.embed.batch_size,
        "data.synth.actors": cfg.data.synth.actors,
        "data.synth.fps": cfg.data.synth.fps,
        "head.window": cfg.head.window,
        "embed.motion_gap": cfg.embed.motion_gap,
        "embed.motion_gain": cfg.embed.motion_gain,
        "embed.flow_gain": cfg.embed.flow_gain,
        "pose.people": cfg.pose.people,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    if cfg.augment.copies < 0:
        raise ConfigError(f"augment.copies must be >= 0, got {cfg.augment.copies}")
    unknown = set(cfg.augment.splits) - {"train", "val", "test"}
    if unknown:
        raise ConfigError(f"augment.splits has unknown split(s) {sorted(unknown)}")
    if cfg.embed.layer not in cfg.backbone.candidate_layers:
        raise ConfigError(
            f"embed.layer {cfg.embed.layer!r} is not in backbone.candidate_layers "
            f"{list(cfg.backbone.candidate_layers)}"
        )
    for key, names in (("embed.candidate_inputs", cfg.embed.candidate_inputs), ("embed.input", cfg.embed.input_parts)):
        unknown_inputs = [name for name in names if name not in INPUTS]
        if unknown_inputs:
            raise ConfigError(f"{key}: unknown input(s) {unknown_inputs}; use {list(INPUTS)} (or a+b for embed.input)")
    one_frame = {"still", "pose"}  # inputs that need no frame before the tick's own
    if cfg.data.format is DataFormat.folders and (not set(cfg.embed.embedded_inputs) <= one_frame or cfg.head.window > 1):
        raise ConfigError("data.format folders: an image has no frame before it, so embed.input must be still (or "
                          "pose, or still+pose), embed.candidate_inputs among still and pose, and head.window 1 "
                          "(conf/data/folders.yaml sets them)")
    if (not set(cfg.embed.input_parts) <= one_frame or cfg.head.window > 1) and abs(cfg.play.interval_s * cfg.extract.fps - 1) > 1e-6:
        raise ConfigError(f"play.interval_s ({cfg.play.interval_s:g}) must be one tick, 1 / extract.fps "
                          f"({1 / cfg.extract.fps:g}), when the model sees motion or a window of ticks")
    choices = {"embed.runtime": (cfg.embed.runtime, RUNTIMES),
               "embed.precision": (cfg.embed.precision, PRECISIONS),
               "embed.engine": (cfg.embed.engine, ENGINES),
               "split.by": (cfg.split.by, SPLIT_UNITS)}
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key} {value!r} is not one of {list(allowed)}")
    for key in ("tolerance", "check_frames", "shard_frames"):
        if getattr(cfg.embed, key) <= 0:
            raise ConfigError(f"embed.{key} must be > 0, got {getattr(cfg.embed, key)}")
    if not -1 <= cfg.embed.min_cosine <= 1:
        raise ConfigError(f"embed.min_cosine must be in [-1, 1], got {cfg.embed.min_cosine}")
    if cfg.embed.input_size not in (0,) and cfg.embed.input_size < 32:
        raise ConfigError(f"embed.input_size must be 0 (native) or >= 32, got {cfg.embed.input_size}")
    if not 0 <= cfg.head.dropout < 1:
        raise ConfigError(f"head.dropout must be in [0, 1), got {cfg.head.dropout}")
    for key in ("test_fraction", "val_fraction"):
        value = getattr(cfg.split, key)
        if not 0 < value < 1:
            raise ConfigError(f"split.{key} must be in (0, 1), got {value}")
    if not cfg.package.metric.startswith("val_"):
        raise ConfigError(f"package.metric must be a validation metric (val_*), got {cfg.package.metric!r}: "
                          "models are never chosen by the test figures")
    for key in ("nothing_threshold", "strike_threshold"):
        value = getattr(cfg.play, key)
        if not 0 <= value <= 1:
            raise ConfigError(f"play.{key} must be in [0, 1], got {value}")
    if cfg.play.smoothing < 1:
        raise ConfigError(f"play.smoothing must be >= 1 (decisions averaged), got {cfg.play.smoothing}")
    if cfg.play.interval_s <= 0 or cfg.play.cooldown_s < 0:
        raise ConfigError(f"play.interval_s must be > 0 and play.cooldown_s >= 0, got {cfg.play.interval_s}, "
                          f"{cfg.play.cooldown_s}")
    if cfg.play.slack_s < 0 or cfg.play.fit_margin < 0:
        raise ConfigError(f"play.slack_s and play.fit_margin must be >= 0, got {cfg.play.slack_s}, "
                          f"{cfg.play.fit_margin}")
    if not 0 <= cfg.play.fit_min_recall <= 1:
        raise ConfigError(f"play.fit_min_recall must be in [0, 1] (0: choose by event F1), got {cfg.play.fit_min_recall}")
    search = cfg.play.search
    searched = {"nothing_threshold": all(0 <= v <= 1 for v in search.nothing_threshold),
                "strike_threshold": all(0 <= v <= 1 for v in search.strike_threshold),
                "smoothing": all(v >= 1 for v in search.smoothing), "cooldown_s": all(v >= 0 for v in search.cooldown_s)}
    for key, ok in searched.items():
        if not ok or not getattr(search, key):
            raise ConfigError(f"play.search.{key} must list values allowed for play.{key}, got {getattr(search, key)}")
    record_positive = {"takes": cfg.record.takes, "strike_s": cfg.record.strike_s, "free_s": cfg.record.free_s,
                       "fps": cfg.record.fps}
    for key, value in record_positive.items():
        if value <= 0:
            raise ConfigError(f"record.{key} must be > 0, got {value}")
    for key in ("punches", "kicks", "free_moves", "countdown_s", "guard_s", "margin_s"):
        if getattr(cfg.record, key) < 0:
            raise ConfigError(f"record.{key} must be >= 0, got {getattr(cfg.record, key)}")
    if 2 * cfg.record.margin_s >= min(cfg.record.strike_s, cfg.record.free_s):
        raise ConfigError(f"record.margin_s ({cfg.record.margin_s}) leaves nothing of a prompt to label: it must be "
                          f"under half of record.strike_s and record.free_s")
    synth = cfg.data.synth
    for key in ("sway_rate", "passerby_rate"):
        if not 0 <= getattr(synth, key) <= 1:
            raise ConfigError(f"data.synth.{key} must be in [0, 1] (a share of clips), got {getattr(synth, key)}")
    if synth.shake < 0 or not 0 <= synth.flicker < 1:
        raise ConfigError(f"data.synth.shake must be >= 0 and data.synth.flicker in [0, 1), got {synth.shake}, "
                          f"{synth.flicker}")
    if not 0 <= synth.shifted_actors <= synth.actors:
        raise ConfigError(f"data.synth.shifted_actors must be in [0, data.synth.actors = {synth.actors}], "
                          f"got {synth.shifted_actors}")
    unknown = set(cfg.balance.splits) - {"train", "val", "test"}
    if unknown:
        raise ConfigError(f"balance.splits has unknown split(s) {sorted(unknown)}")
    if cfg.balance.method not in BALANCE_METHODS:
        raise ConfigError(f"balance.method must be one of {list(BALANCE_METHODS)}, got {cfg.balance.method!r}")


def validate(raw: DictConfig | dict[str, Any], source: str = "config") -> KombatConfig:
    """Merge `raw` onto the schema and return the typed config, or raise ConfigError."""
    schema = OmegaConf.structured(KombatConfig)
    try:
        merged = OmegaConf.merge(schema, raw)
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        message = str(exc).splitlines()[0]
        raise ConfigError(f"{source}: key {key}: {message}") from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    assert isinstance(cfg, KombatConfig)
    return cfg


def read_sections(path: Path) -> dict[str, Any]:
    """A params file's sections, not yet validated; one-line ConfigError when it is not a YAML mapping."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def load(params_path: str | Path = "params.yaml") -> KombatConfig:
    """Read and validate `params.yaml` (what every DVC stage does first)."""
    path = Path(params_path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run from the project root, or `dvc exp run` to compose conf/)")
    return validate(read_sections(path), source=str(path))


def to_dict(cfg: KombatConfig) -> dict[str, Any]:
    """Plain dict (enums as strings), for logging and for writing YAML."""
    container = OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True)
    assert isinstance(container, dict)
    return container
