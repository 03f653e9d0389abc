"""The typed schema: params.yaml equals conf/ composed, and bad keys or types stop the run naming the key."""

from __future__ import annotations

import pytest
import yaml

from kombat import schema
from kombat.compose import compose
from kombat.errors import ConfigError, KombatError

from .conftest import ROOT


def test_params_yaml_is_conf_composed():
    """`params.yaml` must be exactly what `dvc exp run` composes from conf/, so the two never drift."""
    on_disk = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert on_disk == compose([], ROOT / "conf"), "params.yaml differs from conf/: run `make params`"


def test_shared_key_names_and_defaults():
    cfg = schema.load(ROOT / "params.yaml")
    assert cfg.embed.layer == "conv_pw_13_relu"
    assert (cfg.extract.width, cfg.extract.height) == (100, 56)
    assert cfg.augment.copies == 1 and cfg.augment.seed == 44 and cfg.extract.every_frame
    assert (cfg.embed.input, cfg.head.name, cfg.head.window) == ("motion", "temporal", 8)
    assert cfg.backbone.weights == "imagenet"
    assert cfg.task.name == "three_class" and cfg.classes == ("punch", "kick", "other")


def test_overrides_compose_and_validate():
    composed = compose(["head.units=256", "task=punch_binary", "data=tiny"], ROOT / "conf")
    cfg = schema.validate(composed)
    assert cfg.head.units == 256
    assert cfg.classes == ("no_punch", "punch")
    assert cfg.data.synth.actors == 4 and cfg.data.synth.hard_negative_rate == 0.5  # tiny extends synthetic


def test_the_article_recipe_is_a_few_overrides_away_and_folders_get_it_themselves():
    still = schema.validate(compose(["embed.input=still", "head=dense"], ROOT / "conf"))
    assert (still.embed.input, still.head.name, still.head.window, still.head.units) == ("still", "dense", 1, 1024)
    folders = schema.validate(compose(["data=folders"], ROOT / "conf"))
    assert folders.embed.embedded_inputs == ("still",) and folders.head.window == 1
    assert folders.data.synth.actors == 8  # the synth stage's params exist in every preset
    videos = compose(["data=videos"], ROOT / "conf")
    assert videos["data"]["raw_dir"] == "data/raw" and "synth" in videos["data"]


def test_motion_over_images_and_unknown_inputs_are_refused():
    with pytest.raises(ConfigError, match="data.format folders: an image has no frame before it"):
        schema.validate(compose(["data.format=folders"], ROOT / "conf"))
    with pytest.raises(ConfigError, match=r"embed.input: unknown input\(s\) \['skeleton'\]"):
        schema.validate(compose(["embed.input=motion+skeleton"], ROOT / "conf"))


def test_pose_combines_with_the_image_inputs_and_only_then_is_found():
    both = schema.validate(compose(["embed.input=motion+pose"], ROOT / "conf")).embed
    assert both.input_parts == ("motion", "pose") and both.embedded_images == ("motion",) and both.needs_pose
    candidate = schema.validate(compose(["embed.candidate_inputs=[pose]"], ROOT / "conf")).embed
    assert candidate.embedded_inputs == ("motion", "pose") and candidate.needs_pose
    assert not schema.validate(compose([], ROOT / "conf")).embed.needs_pose  # the default demo pays nothing
    photos = schema.validate(compose(["data=folders", "embed.input=still+pose"], ROOT / "conf")).embed
    assert photos.embedded_inputs == ("still", "pose")  # a photograph's pose needs no frame before it
    with pytest.raises(ConfigError, match="pose.people must be > 0"):
        schema.validate(compose(["pose.people=0"], ROOT / "conf"))


def test_embed_embeds_the_run_s_own_input_and_the_candidates_a_sweep_names():
    assert schema.validate(compose([], ROOT / "conf")).embed.embedded_inputs == ("motion",)
    both = schema.validate(compose(["embed.input=still+motion", "embed.candidate_inputs=[flow,motion]"], ROOT / "conf"))
    assert both.embed.embedded_inputs == ("still", "motion", "flow")
    with pytest.raises(ConfigError, match="play.interval_s"):
        schema.validate(compose(["play.interval_s=0.05"], ROOT / "conf"))


def _raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_unknown_key_names_the_key():
    raw = _raw()
    raw["train"]["learning_rate"] = 0.1
    with pytest.raises(ConfigError, match=r"train\.learning_rate"):
        schema.validate(raw)


def test_wrong_type_names_the_key():
    raw = _raw()
    raw["head"]["units"] = "many"
    with pytest.raises(ConfigError, match=r"head\.units"):
        schema.validate(raw)


def test_bad_enum_names_the_key():
    raw = _raw()
    raw["task"]["name"] = "five_class"
    with pytest.raises(ConfigError, match=r"task\.name"):
        schema.validate(raw)


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("embed", "layer", "conv_pw_3_relu", "embed.layer"),
        ("train", "lr", 0.0, "train.lr"),
        ("augment", "copies", -1, "augment.copies"),
        ("augment", "splits", ["train", "holdout"], "augment.splits"),
        ("split", "test_fraction", 1.5, "split.test_fraction"),
        ("play", "fit_min_recall", 1.2, "play.fit_min_recall"),
        ("play", "fit_min_recall", -0.1, "play.fit_min_recall"),
    ],
)
def test_range_rules_name_the_key(section, key, value, named):
    raw = _raw()
    raw[section][key] = value
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        schema.validate(raw)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        schema.load(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        schema.load(bad)


def test_invalid_hydra_override_is_one_clear_error():
    with pytest.raises(KombatError, match="head.unitz"):
        compose(["head.unitz=3"], ROOT / "conf")


def test_every_default_lives_in_conf_only():
    # schema.py gives types and checks; a default stated there as well drifted from conf/ three times
    # (augment.copies, the head, train.lr). Every leaf is MISSING, so params.yaml must say each key.
    import dataclasses

    from omegaconf import MISSING

    from kombat.play import Rule

    stated = []

    def walk(cls, prefix):
        for f in dataclasses.fields(cls):
            factory = f.default_factory
            if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
                walk(factory, f"{prefix}{f.name}.")
            elif f.default != MISSING:
                stated.append(f"{prefix}{f.name}")

    walk(schema.KombatConfig, "")
    assert stated == []
    assert [f.name for f in dataclasses.fields(Rule) if f.default is not dataclasses.MISSING] == []  # play.json's


def test_a_key_params_yaml_lacks_is_named(cfg):
    raw = schema.to_dict(cfg)
    del raw["split"]["by"]
    with pytest.raises(ConfigError, match=r"split\.by"):
        schema.validate(raw)
