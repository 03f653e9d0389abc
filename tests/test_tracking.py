"""The MLflow service's pure parts: the champion's choice, the params a run logs, the clip table of a split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kombat import tracking
from kombat.errors import DataError
from kombat.tracking import Candidate, choose_champion


def candidate(run_id: str, metric: float, start: int) -> Candidate:
    return Candidate(run_id, run_id, "sweep-job", metric, start)


def test_the_champion_has_the_best_validation_metric_and_ties_go_to_the_newest():
    runs = [candidate("a", 0.61, 1), candidate("b", 0.65, 2), candidate("c", 0.65, 3), candidate("d", 0.64, 4)]
    assert choose_champion(runs).run_id == "c"
    assert choose_champion(runs[:2]).run_id == "b"


def test_no_candidate_is_a_clear_error():
    with pytest.raises(DataError, match="no finished run"):
        choose_champion([])


def test_run_params_use_the_names_users_search_by(cfg):
    params = tracking.run_params(cfg)
    assert (params["layer"], params["units"], params["lr"], params["input"]) == (
        cfg.embed.layer, cfg.head.units, cfg.train.lr, cfg.embed.input)
    assert params["embedder"] == "litert-float32"


def test_a_split_s_clip_table_counts_copies_frames_and_targets():
    manifest = pd.DataFrame({
        "source": ["a.mp4"] * 4 + ["b.mp4"] * 2, "actor": ["ann"] * 4 + ["bob"] * 2, "copy": [0, 0, 1, 1, 0, 0],
        "label": ["punch", "", "punch", "kick", "other", "other"], "target": [1, 0, 1, 1, 1, 0],
        "split": ["train"] * 4 + ["val"] * 2})
    table = tracking.clip_table(manifest, "train")
    assert table.to_dict("records") == [{"clip": "a.mp4", "actor": "ann", "copies": 2, "frames": 4, "kick": 1,
                                         "punch": 2}]
    assert tracking.clip_table(manifest, "val")["other"].tolist() == [1]


def test_only_a_run_that_learned_from_these_embeddings_is_packaged(tmp_path):
    # A run trained on the square 224 embeddings competes with one on 224x128's: the package may only take
    # the run whose data_fingerprint is the embeddings now on disk (else its head meets another embedder).
    (tmp_path / "motion").mkdir()
    (tmp_path / "manifest.csv").write_text("source\nclip.mp4\n")
    np.save(tmp_path / "motion" / "conv_pw_13_relu.npy", np.ones((1, 4), np.float32))
    now = tracking.embeddings_fingerprint(tmp_path, ["motion"], "conv_pw_13_relu")
    run = {"input": "motion", "layer": "conv_pw_13_relu", "data_fingerprint": now}
    assert tracking.learned_from(run, tmp_path, {})
    assert not tracking.learned_from({**run, "data_fingerprint": "0123456789abcdef"}, tmp_path, {})
    assert not tracking.learned_from({**run, "input": "flow"}, tmp_path, {})  # not embedded here at all
    np.save(tmp_path / "motion" / "conv_pw_13_relu.npy", np.zeros((1, 4), np.float32))  # embedded again, otherwise
    assert not tracking.learned_from(run, tmp_path, {})
