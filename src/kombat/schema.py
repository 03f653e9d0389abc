"""The typed configuration shared by DVC (`params.yaml`) and Hydra (`conf/`).

Every run validates its config against `KombatConfig` before doing any work, so a typo or a
wrong type stops the run at once, naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
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
    actors: int = 8
    clips_per_actor: int = 2
    clip_seconds: float = 24.0
    fps: int = 30
    width: int = 320
    height: int = 180
    seed: int = 7
    # Difficulty knobs (see README "Synthetic fighters").
    hard_negative_rate: float = 0.5  # share of "other" moves that pass near a strike pose
    occlusion_rate: float = 0.3  # share of clips with an object in front of the fighter
    noise: float = 1.0  # scales sensor noise, blur, lighting drift and compression together


@dataclass
class DataConfig:
    source: DataSource = DataSource.synthetic
    format: DataFormat = DataFormat.videos
    raw_dir: str = "data/synthetic"
    annotations: str = "annotations.csv"  # relative to raw_dir; only for format=videos
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass
class ExtractConfig:
    fps: float = 10.0  # frames sampled per second of video; play decides every 100 ms too
    width: int = 100
    height: int = 56
    strict: bool = False  # true: a bad frame stops the run; false: skipped, counted and reported


SPLIT_UNITS = ("auto", "actor", "take")


@dataclass
class SplitConfig:
    by: str = "auto"  # actor, take (one video), or auto: by actor with 3+ actors, else by take (one person alone)
    test_actors: list[str] = field(default_factory=list)  # empty: chosen by seed
    val_actors: list[str] = field(default_factory=list)
    test_fraction: float = 0.25
    val_fraction: float = 0.2
    seed: int = 44


@dataclass
class BalanceConfig:
    splits: list[str] = field(default_factory=lambda: ["train"])
    seed: int = 44


@dataclass
class AugmentConfig:
    copies: int = 16  # augmented copies per training image, besides the original
    seed: int = 44


@dataclass
class BackboneConfig:
    name: str = "mobilenet_v1"  # a name in kombat.backbone.BACKBONES (checked there)
    weights: str = "imagenet"  # or a path to a Keras weights file
    alpha: float = 1.0
    candidate_layers: list[str] = field(
        default_factory=lambda: ["conv_pw_13_relu", "conv_pw_12_relu", "conv_pw_11_relu"]
    )


INPUTS = ("still", "motion")  # what the backbone can see of a tick: the frame, or how it moved since `motion_gap` ticks


@dataclass
class EmbedConfig:
    input: str = "motion"  # what the head trains on: still, motion, or still+motion (both embeddings side by side)
    candidate_inputs: list[str] = field(default_factory=lambda: ["still", "motion"])  # all embedded, one cache each
    motion_gap: int = 1  # ticks between the two frames of a motion image (1 tick = 1 / extract.fps s)
    motion_gain: float = 4.0  # |gray_t - gray_(t-gap)| x gain: small moves become visible to the backbone
    layer: str = "conv_pw_13_relu"  # which candidate layer the head trains on
    input_size: int = 224  # 224: resize as the article's tfjs did; 0: the frame's own size
    grayscale: bool = True  # the article fed grayscale frames
    batch_size: int = 64  # frames per Keras call (embed.runtime: keras)
    runtime: str = "litert"  # litert: the Keras model as TFLite on XNNPACK (checked against Keras); keras: Keras itself
    precision: str = "float32"  # litert only: float32, float16 (weights), int8 (weights and activations)
    tolerance: float = 1e-4  # float32: max |LiteRT - Keras| / max |Keras| per layer on the check frames, else nothing is written
    min_cosine: float = 0.9  # float16/int8: the least similar check frame's cosine similarity to Keras
    check_frames: int = 32  # frames (per input) checked against Keras, and int8's calibration set
    shard_frames: int = 1024  # frames embedded and written at a time (a Ray task with engine ray)
    engine: str = "local"  # local, or ray: shards on a Ray cluster (same bytes)
    ray_address: str = ""  # engine ray: empty starts a local Ray instance; "auto" or ray://host:10001 joins a cluster

    @property
    def input_parts(self) -> tuple[str, ...]:
        """The cached inputs `input` puts side by side: 'still+motion' -> ('still', 'motion')."""
        return tuple(self.input.split("+"))


@dataclass
class HeadConfig:
    name: str = "dense"  # a module of kombat/heads/ (checked there): dense (the article's), temporal (GRU)
    units: int = 1024
    dropout: float = 0.0
    window: int = 1  # the head sees the last `window` ticks of embeddings (causal: never a future tick)


@dataclass
class TrainConfig:
    lr: float = 1e-4
    epochs: int = 40
    batch_size: int = 64
    patience: int = 6  # epochs without val loss improvement before early stopping
    seed: int = 44


@dataclass
class TaskConfig:
    name: str = "three_class"  # a name in kombat.tasks.TASKS: three_class, punch_binary


@dataclass
class MlflowConfig:
    tracking_uri: str = ""  # empty: sqlite:///<repo>/mlflow.db
    experiment: str = "kombat"


@dataclass
class PackageConfig:
    metric: str = "val_macro_f1"  # the champion is the run with the highest value; always a val_* metric
    model_name: str = "kombat"  # the registered model in the MLflow model registry
    alias: str = "champion"
    tolerance: float = 1e-4  # max |Keras - TFLite| probability allowed on the check frames


@dataclass
class PlayConfig:
    nothing_threshold: float = 0.4  # "other" at or above this: do nothing (the article's rule)
    strike_threshold: float = 0.35  # a strike fires at or above this, and above the other strike
    cooldown_s: float = 0.5  # after an action, none for this long: one strike, one action
    interval_s: float = 0.1  # a decision every 100 ms, as the article's browser loop
    smoothing: int = 2  # decide on the mean of the last N decisions (1: the article's; more: fewer false strikes)
    keys: dict[str, str] = field(default_factory=lambda: {"punch": "a", "kick": "d"})  # MK.js: a high punch, d low kick


@dataclass
class RecordConfig:
    """The recorder's plan (python -m kombat.record): takes of shuffled prompts, labelled from the prompt times."""

    takes: int = 5  # one video per take: alone, 3 train, 1 validate, 1 test (split by take)
    punches: int = 4  # "PUNCH!" prompts per take
    kicks: int = 4  # "KICK!" prompts per take
    free_moves: int = 3  # "move freely" stretches per take: the `other` class, hard negatives included
    countdown_s: float = 3.0  # "get ready", then 3-2-1, unlabelled
    strike_s: float = 1.5  # how long a strike prompt shows
    guard_s: float = 1.0  # "guard" after each strike: back to the stance (labelled other)
    free_s: float = 4.0  # how long a "move freely" stretch lasts
    margin_s: float = 0.3  # left unlabelled at both ends of every prompt: people react late and recover slowly
    fps: float = 30.0  # frames per second of the recorded videos (a camera's frames are repeated or dropped to it)
    seed: int = 0  # the order of prompts in take k is drawn from seed + k
    hints: list[str] = field(default_factory=lambda: ["step", "turn", "wave", "reach", "raise a knee", "stretch"])


@dataclass
class KombatConfig:
    data: DataConfig = field(default_factory=DataConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    package: PackageConfig = field(default_factory=PackageConfig)
    play: PlayConfig = field(default_factory=PlayConfig)
    record: RecordConfig = field(default_factory=RecordConfig)

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
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    if cfg.augment.copies < 0:
        raise ConfigError(f"augment.copies must be >= 0, got {cfg.augment.copies}")
    if cfg.embed.layer not in cfg.backbone.candidate_layers:
        raise ConfigError(
            f"embed.layer {cfg.embed.layer!r} is not in backbone.candidate_layers "
            f"{list(cfg.backbone.candidate_layers)}"
        )
    unknown_inputs = [name for name in cfg.embed.candidate_inputs if name not in INPUTS]
    if unknown_inputs:
        raise ConfigError(f"embed.candidate_inputs: unknown input(s) {unknown_inputs}; use {list(INPUTS)}")
    if not set(cfg.embed.input_parts) <= set(cfg.embed.candidate_inputs):
        raise ConfigError(f"embed.input {cfg.embed.input!r} needs {list(cfg.embed.input_parts)}, but "
                          f"embed.candidate_inputs is {list(cfg.embed.candidate_inputs)}")
    if cfg.data.format is DataFormat.folders and ("motion" in cfg.embed.candidate_inputs or cfg.head.window > 1):
        raise ConfigError("data.format folders: an image has no frame before it, so embed.candidate_inputs must be "
                          "[still] and head.window 1 (conf/data/folders.yaml sets them)")
    if ("motion" in cfg.embed.input_parts or cfg.head.window > 1) and abs(cfg.play.interval_s * cfg.extract.fps - 1) > 1e-6:
        raise ConfigError(f"play.interval_s ({cfg.play.interval_s:g}) must be one tick, 1 / extract.fps "
                          f"({1 / cfg.extract.fps:g}), when the model sees motion or a window of ticks")
    choices = {"embed.runtime": (cfg.embed.runtime, ("litert", "keras")),
               "embed.precision": (cfg.embed.precision, ("float32", "float16", "int8")),
               "embed.engine": (cfg.embed.engine, ("local", "ray")),
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
    unknown = set(cfg.balance.splits) - {"train", "val", "test"}
    if unknown:
        raise ConfigError(f"balance.splits has unknown split(s) {sorted(unknown)}")


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


def load(params_path: str | Path = "params.yaml") -> KombatConfig:
    """Read and validate `params.yaml` (what every DVC stage does first)."""
    path = Path(params_path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run from the project root, or `dvc exp run` to compose conf/)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return validate(raw, source=str(path))


def to_dict(cfg: KombatConfig) -> dict[str, Any]:
    """Plain dict (enums as strings), for logging and for writing YAML."""
    container = OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True)
    assert isinstance(container, dict)
    return container
