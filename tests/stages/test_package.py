"""The package stage's config rules (its choice of champion: tests/test_tracking.py)."""

from __future__ import annotations

import pytest

from kombat.compose import default_config
from kombat.errors import ConfigError

from ..conftest import needs_weights


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
                      1.5e-5, 48, "f00d", "3", "take", "- **Chosen**: the play rule section",
                      "int8", "the embed stage's own, (...) within 0.0e+00.")
    assert "${" not in card and card.startswith("# kombat body controller: `kombat@champion` (version 3)")
    assert "**How it was validated**: split by take: validation and test are other takes of the same person" in card
    assert "## Test scores (held-out takes, 45 frames)" in card and "| kick | 0 | 6 | 1 |" in card
    assert "highest `val_macro_f1` = 0.9100 among 4 finished runs" in card and "keys: punch -> a, kick -> d" in card
    assert "event scores on the held-out clips\n- **Chosen**: the play rule section" in card
    assert ("-> pooled embeddings, int8:\n  the embed stage's own, (...) within 0.0e+00. A quantized embedder exists "
            "only in TFLite") in card
    assert "its Keras player (this embedder, the Keras head)" in card


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
    assert not (tmp_path / "embedder_check.npz").exists()  # no check given (a pose-only head has no embedder)


def test_play_allows_one_step_of_a_quantized_embedders_grid():
    import numpy as np

    from kombat.stages.package import play_tolerance

    float32 = np.random.default_rng(0).gamma(0.5, 1.0, (32, 64)).astype(np.float32)
    assert play_tolerance(float32, 1e-4) == 1e-4  # values on no grid: embed.tolerance
    on_a_grid = np.random.default_rng(0).integers(0, 13, (32, 64)) * np.float32(0.5)  # 0 to 6 in steps of 0.5
    assert play_tolerance(on_a_grid, 1e-4) == pytest.approx(1.01 * 0.5 / 6)
    assert play_tolerance(on_a_grid, 0.2) == 0.2  # the coarser of the two
    assert play_tolerance(np.zeros((2, 3), np.float32), 1e-4) == 1e-4


def embeddings_folder(folder, cfg, images_by_input, rows, precision):
    """An embed stage's output as the package reads it: its check images (input by input) and each input's
    embeddings at those rows, made by the stage's multi-layer feature model at `precision`; returns the run's
    layer's embeddings of the check images, in meta.json's order."""
    import json

    import numpy as np

    from kombat.backbone import feature_model
    from kombat.features import to_tflite
    from kombat.lite import LiteModel

    layers, images = list(cfg.backbone.candidate_layers), np.concatenate(list(images_by_input.values()))
    features = feature_model(cfg.backbone, cfg.embed, images.shape[1:], layers)
    outputs = LiteModel(model_content=to_tflite(features, precision, calibration=images)).batch(images)
    np.save(folder / "check_images.npy", images)
    (folder / "meta.json").write_text(json.dumps({"precision": precision, "check": {"inputs": list(images_by_input),
                                                                                    "rows": rows.tolist()}}))
    for k, kind in enumerate(images_by_input):
        (folder / kind).mkdir()
        for layer, values in zip(layers, outputs):
            stored = np.zeros((int(rows.max()) + 1, values.shape[1]), np.float32)
            stored[rows] = values[k * len(rows):(k + 1) * len(rows)]
            np.save(folder / kind / f"{layer}.npy", stored)
    return outputs[layers.index(cfg.embed.layer)]


@needs_weights
def test_the_play_embedder_is_the_embed_stages_and_refused_when_it_is_not(tmp_path):
    import numpy as np

    from kombat.compose import default_config
    from kombat.errors import DataError, KombatError
    from kombat.export import embedder_model
    from kombat.features import to_tflite
    from kombat.stages.package import embedder_as_embedded, read_check

    cfg = default_config(["embed.precision=int8"])
    rng = np.random.default_rng(0)
    images = {kind: rng.integers(0, 256, (4, 56, 100, 3), dtype=np.uint8) for kind in ("motion", "flow")}
    rows = np.array([0, 3, 7, 12])
    expected = embeddings_folder(tmp_path, cfg, images, rows, "int8")
    check_images, stored, precision = read_check(tmp_path, cfg.embed.layer)
    assert precision == "int8" and np.array_equal(stored, expected)  # motion's rows, then flow's
    embedder = embedder_model(cfg, (56, 100, 3))
    flatbuffer, found = embedder_as_embedded(embedder, check_images, stored, precision, cfg.embed.tolerance, tmp_path)
    assert found.endswith("on its 8 check images it gives that stage's embeddings within 0.0e+00 of their largest "
                          "value (allowed: 0.0001). `embedder_check.npz` holds both: play.py checks the runtime it "
                          "plays on against them when it loads.")
    assert flatbuffer == to_tflite(embedder, "int8", calibration=check_images)  # the stage's calibration, deterministic
    # The package carries the check, and play.py's own check passes on the embedder it ships.
    from kombat.lite import LiteModel
    from kombat.play import EMBEDDER_CHECK_FILE, check_embedder
    from kombat.stages.package import write_package

    package = tmp_path / "package"
    package.mkdir()
    write_package(package, cfg, cfg, {}, {"classes": list(cfg.classes)}, None, (check_images, stored))
    assert check_embedder(package / EMBEDDER_CHECK_FILE, LiteModel(model_content=flatbuffer), cfg.embed.tolerance) == 0

    # Embeddings the head learned that this embedder does not give (float32's, under an int8 label): refused.
    other = tmp_path / "float32"
    other.mkdir()
    embeddings_folder(other, cfg, images, rows, "float32")
    (other / "meta.json").write_text((tmp_path / "meta.json").read_text())
    with pytest.raises(KombatError, match="the int8 play embedder differs from the embed stage's embeddings by"):
        embedder_as_embedded(embedder, *read_check(other, cfg.embed.layer), cfg.embed.tolerance, other)
    (other / "check_images.npy").unlink()
    with pytest.raises(DataError, match="no check_images.npy"):
        read_check(other, cfg.embed.layer)
