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
                                        ("smoothing", 0), ("slack_s", -0.1), ("search.strike_threshold", "[0.5,1.5]"),
                                        ("search.smoothing", "[]"), ("search.cooldown_s", "[-1]")])
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
                      1.5e-5, 48, "f00d", "3", "take", "- **Chosen**: the play rule section")
    assert "${" not in card and card.startswith("# kombat body controller: `kombat@champion` (version 3)")
    assert "**How it was validated**: split by take: validation and test are other takes of the same person" in card
    assert "## Test scores (held-out takes, 45 frames)" in card and "| kick | 0 | 6 | 1 |" in card
    assert "highest `val_macro_f1` = 0.9100 among 4 finished runs" in card and "keys: punch -> a, kick -> d" in card
    assert "event scores on the held-out clips\n- **Chosen**: the play rule section" in card


def test_play_json_states_the_fitted_rule_and_none_of_the_search(tmp_path):
    import json

    from kombat.compose import default_config
    from kombat.play import Rule, read_settings
    from kombat.stages.package import write_package

    cfg = default_config()
    fitted = {"nothing_threshold": 0.2, "strike_threshold": 0.9, "smoothing": 3, "cooldown_s": 0.8}
    write_package(tmp_path, cfg, cfg, {}, {"classes": list(cfg.classes)}, fitted)
    settings = read_settings(tmp_path / "play.json")
    rule = Rule.from_settings(list(cfg.classes), settings)
    assert (rule.nothing_threshold, rule.strike_threshold, rule.smoothing, rule.cooldown_s) == (0.2, 0.9, 3, 0.8)
    assert settings["interval_s"] == cfg.play.interval_s and settings["keys"] == {"punch": "a", "kick": "d"}
    assert not {"fit", "search", "slack_s"} & set(json.loads((tmp_path / "play.json").read_text()))
