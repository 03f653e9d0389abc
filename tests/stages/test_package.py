"""The package stage's choice of champion, and its config rules."""

from __future__ import annotations

import pytest

from kombat.compose import default_config
from kombat.errors import ConfigError, DataError
from kombat.stages.package import Candidate, choose_champion


def candidate(run_id: str, metric: float, start: int) -> Candidate:
    return Candidate(run_id, run_id, "sweep-job", metric, start)


def test_the_champion_has_the_best_validation_metric_and_ties_go_to_the_newest():
    runs = [candidate("a", 0.61, 1), candidate("b", 0.65, 2), candidate("c", 0.65, 3), candidate("d", 0.64, 4)]
    assert choose_champion(runs).run_id == "c"
    assert choose_champion(runs[:2]).run_id == "b"


def test_no_candidate_is_a_clear_error():
    with pytest.raises(DataError, match="no finished run"):
        choose_champion([])


def test_models_are_never_chosen_by_a_test_metric():
    with pytest.raises(ConfigError, match="package.metric must be a validation metric"):
        default_config(["package.metric=macro_f1"])
    assert default_config(["package.metric=val_accuracy"]).package.metric == "val_accuracy"


@pytest.mark.parametrize("key, value", [("nothing_threshold", 1.5), ("strike_threshold", -0.1), ("interval_s", 0),
                                        ("smoothing", 0)])
def test_play_settings_are_checked(key, value):
    with pytest.raises(ConfigError, match=f"play.{key}"):
        default_config([f"play.{key}={value}"])
