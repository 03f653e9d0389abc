"""The package stage's config rules (its choice of champion: tests/test_tracking.py)."""

from __future__ import annotations

import pytest

from kombat.compose import default_config
from kombat.errors import ConfigError


def test_models_are_never_chosen_by_a_test_metric():
    with pytest.raises(ConfigError, match="package.metric must be a validation metric"):
        default_config(["package.metric=macro_f1"])
    assert default_config(["package.metric=val_accuracy"]).package.metric == "val_accuracy"


@pytest.mark.parametrize("key, value", [("nothing_threshold", 1.5), ("strike_threshold", -0.1), ("interval_s", 0),
                                        ("smoothing", 0)])
def test_play_settings_are_checked(key, value):
    with pytest.raises(ConfigError, match=f"play.{key}"):
        default_config([f"play.{key}={value}"])


def test_the_model_card_is_its_template_filled_in(cfg):
    import numpy as np

    from kombat.stages.package import model_card
    from kombat.tracking import Candidate

    scores = {"accuracy": 0.9, "balanced_accuracy": 0.8, "macro_f1": 0.85,
              **{f"{kind}_{c}": 0.5 for kind in ("precision", "recall", "f1") for c in cfg.classes}}
    matrix = np.array([[5, 1, 0], [0, 6, 1], [2, 0, 30]])
    card = model_card(cfg, cfg, Candidate("abc123", "pipeline temporal", "pipeline", 0.91, 1), 4, scores, matrix,
                      1.5e-5, 48, "f00d", "3", "take")
    assert "${" not in card and card.startswith("# kombat body controller: `kombat@champion` (version 3)")
    assert "**How it was validated**: split by take: validation and test are other takes of the same person" in card
    assert "## Test scores (held-out takes, 45 frames)" in card and "| kick | 0 | 6 | 1 |" in card
    assert "highest `val_macro_f1` = 0.9100 among 4 finished runs" in card and "keys: punch -> a, kick -> d" in card
