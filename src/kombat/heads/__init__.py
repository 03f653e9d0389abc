"""Heads chosen by name (`head.name`): each module here maps cached embeddings to class scores.

A head module defines `hidden(embeddings, cfg)`: the Keras layers between the embeddings and the
task's output layer. `build` adds what every head shares (with `head.standardize`, a first layer
that z-scores each embedding channel with the training split's mean and variance, saved inside the
head so the TFLite model and play apply it too) and the output layer, and compiles, so a new head
is one new file here and one in conf/head/.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

from kombat.errors import ConfigError


def names() -> list[str]:
    """The heads `head.name` may choose: this package's modules."""
    return sorted(module.name for module in pkgutil.iter_modules(__path__))


def standardizer(train_x: np.ndarray):
    """A Keras layer that z-scores each channel (the last axis) with `train_x`'s mean and variance
    (over every other axis): the statistics are part of the head, never recomputed at play."""
    import keras

    flat = np.asarray(train_x, np.float64).reshape(-1, train_x.shape[-1])
    return keras.layers.Normalization(axis=-1, mean=flat.mean(axis=0), variance=flat.var(axis=0), name="standardize")


def build(cfg, input_shape: tuple[int, ...], train_x: np.ndarray | None = None):
    """The compiled head `cfg.head.name` for inputs of `input_shape`, with the task's output layer;
    `train_x` (the training split's embeddings) gives the statistics `head.standardize` needs."""
    import keras

    if cfg.head.name not in names():
        raise ConfigError(f"head.name {cfg.head.name!r} is not one of {names()} (modules of kombat/heads/)")
    task = cfg.task_spec
    module = importlib.import_module(f"{__name__}.{cfg.head.name}")
    embeddings = keras.Input(shape=input_shape, name="embedding")
    if cfg.head.standardize and train_x is None:
        raise ConfigError("head.standardize needs the training split's inputs (heads.build(..., train_x))")
    hidden = module.hidden(standardizer(train_x)(embeddings) if cfg.head.standardize else embeddings, cfg)
    outputs = keras.layers.Dense(task.output_units, activation=task.activation, name="classes")(hidden)
    model = keras.Model(embeddings, outputs, name=f"{cfg.head.name}_head")
    # 16 steps per call into TensorFlow: the same updates, a third less Python overhead per epoch
    # (a sweep job on the default data: 8.2 s of fitting -> 5.4 s; bench/).
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.train.lr), loss=task.loss, metrics=["accuracy"],
                  steps_per_execution=16)
    return model
