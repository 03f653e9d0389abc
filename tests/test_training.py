"""Fitting and scoring a head on small synthetic embeddings, as train, evaluate and sweep do."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from kombat import training
from kombat.data import class_weights

from .conftest import ROOT

LABELS = ("punch", "kick", "other")


def clusters(n_per_class: int, dim: int = 16, draw: int = 0):
    """Three well-separated clusters (fixed centres, noise drawn by `draw`) of one-tick windows."""
    centres = np.random.default_rng(0).normal(0, 3, size=(3, dim))
    rng = np.random.default_rng(100 + draw)
    x = np.concatenate([c + rng.normal(0, 1, size=(n_per_class, dim)) for c in centres]).astype(np.float32)[:, None]
    return x, np.repeat(LABELS, n_per_class)


def small(cfg, epochs=8, **task):
    return dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, name="dense", units=32, window=1),
                               train=dataclasses.replace(cfg.train, lr=1e-2, epochs=epochs, batch_size=32, patience=5),
                               task=dataclasses.replace(cfg.task, **task))


def split(name, x, labels, cfg):
    """A Split of (N, window, D) inputs: every window's ticks its own rows of the features."""
    n, window, dim = x.shape
    return training.Split(name, x.reshape(n * window, dim), np.arange(n * window).reshape(n, window),
                          cfg.task_spec.encode(labels))


def swapped(labels):
    """punch and kick trade names: a split on which a model right about the clusters is wrong."""
    return np.array([{"punch": "kick", "kick": "punch"}.get(label, label) for label in labels])


def test_scores_name_test_figures_plainly_and_validation_figures_val(cfg):
    cfg = small(cfg)
    x, labels = clusters(60)
    xv, lv = clusters(20, draw=1)
    result = training.fit(cfg, split("train", x, labels, cfg), split("val", xv, lv, cfg), verbose=0)
    p = training.predict_proba(result.model, xv[:, 0][:, None], cfg)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    # The test split is scored as it is; the validation split is the same kind of data with two
    # labels swapped, so a mix-up of the two (or one scored twice) fails.
    xt, lt = clusters(20, draw=2)
    scores = training.score_splits(result.model, {"test": split("test", xt, lt, cfg),
                                                  "val": split("val", xv, swapped(lv), cfg)}, cfg)
    assert scores["macro_f1"] > 0.9 and scores["accuracy"] > 0.9
    assert scores["val_f1_other"] > 0.9 and scores["val_f1_punch"] < 0.1 and scores["val_accuracy"] < 0.5
    plain = {k for k in scores if not k.startswith("val_")}
    assert {k for k in scores if k.startswith("val_")} == {f"val_{k}" for k in plain}
    assert plain >= {"accuracy", "balanced_accuracy", "macro_f1", *(f"f1_{c}" for c in LABELS)}
    only_val = training.score_splits(result.model, {"val": split("val", xv, lv, cfg)}, cfg)
    assert only_val and all(k.startswith("val_") for k in only_val)  # no test figures without a test split


def test_fit_stops_on_validation_loss_and_keeps_the_best_epoch_s_weights(cfg):
    cfg = small(cfg, epochs=40)
    x, labels = clusters(60)
    xv, lv = clusters(20, draw=1)
    # The better the head learns the clusters, the worse it does on this validation split: its loss rises.
    val = split("val", xv, swapped(lv), cfg)
    result = training.fit(cfg, split("train", x, labels, cfg), val, verbose=0)
    losses = result.history["val_loss"]
    assert len(losses) == result.best_epoch + cfg.train.patience < cfg.train.epochs  # stopped early
    assert result.best_epoch == int(np.argmin(losses)) + 1 and losses[-1] > min(losses)
    restored = result.model.evaluate(val.x, val.y, verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(min(losses), rel=1e-4)  # the best epoch's weights, not the last


def test_ctrl_c_stops_training_at_the_end_of_its_batch_and_puts_the_handler_back(cfg):
    import os
    import signal

    import keras

    cfg = small(cfg, epochs=40)
    x, labels = clusters(60)
    seen, ended = [], []

    class CtrlCInBatch3(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)
            if len(seen) == 3:
                os.kill(os.getpid(), signal.SIGINT)  # arrives as the batch starts

        def on_train_batch_end(self, batch, logs=None):
            ended.append(batch)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        training.fit(cfg, split("train", x, labels, cfg), split("val", x, labels, cfg), callbacks=[CtrlCInBatch3()],
                     verbose=0)
    assert len(ended) == len(seen) == 3  # the batch it arrived in ended (every callback saw it), and no other began
    assert signal.getsignal(signal.SIGINT) is before


def test_training_where_ctrl_c_is_ignored_leaves_it_ignored(cfg):
    import signal

    cfg = small(cfg, epochs=2)
    x, labels = clusters(30)
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        seen = []

        class Handler(__import__("keras").callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                seen.append(signal.getsignal(signal.SIGINT))

        training.fit(cfg, split("train", x, labels, cfg), split("val", x, labels, cfg), callbacks=[Handler()], verbose=0)
        assert seen and all(handler is signal.SIG_IGN for handler in seen)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_punch_binary_trains_one_sigmoid_and_reports_two_columns(cfg):
    cfg = small(cfg, name="punch_binary")
    x, labels = clusters(40)
    data = split("train", x, labels, cfg)
    result = training.fit(cfg, data, data, verbose=0)
    assert result.model.output_shape == (None, 1)
    xt, lt = clusters(20, draw=2)
    p = training.predict_proba(result.model, xt, cfg)  # columns in the task's class order: no_punch, punch
    assert np.allclose(p.sum(axis=1), 1)
    assert p[lt == "punch", 1].mean() > 0.8 and p[lt != "punch", 1].mean() < 0.2
    scores = training.score_splits(result.model, {"test": split("test", xt, lt, cfg)}, cfg)
    assert scores["f1_punch"] > 0.9 and scores["f1_no_punch"] > 0.9


def test_class_weights_even_out_an_unbalanced_task():
    weights = class_weights([3, 1])
    assert weights[1] == 3 * weights[0] and 3 * weights[0] + weights[1] == 4  # each class weighs 2 of the 4 rows
    assert class_weights([5, 5, 5]) == [1.0, 1.0, 1.0]  # after a cut nothing changes
    assert class_weights([4, 0, 2]) == [0.75, 0.0, 1.5]


FRESH_FIT = """
import numpy as np, tensorflow as tf
from kombat import training
from kombat.compose import default_config
cfg = default_config(["head=dense", "head.units=8", "head.window=1", "train.epochs=1"])
x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
data = training.Split("train", x, np.arange(30)[:, None], np.arange(30) % 3)
training.fit(cfg, data, data, verbose=0)
print(tf.config.threading.get_intra_op_parallelism_threads())
"""


def test_a_fresh_process_fits_with_each_op_on_one_thread():
    # The setting only takes before TensorFlow's first op, so this pytest process cannot show it.
    done = subprocess.run([sys.executable, "-c", FRESH_FIT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1"
    training.one_thread_per_op()  # here TensorFlow runs already: the setting stays as it was, no error
