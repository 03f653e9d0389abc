"""compose: conf/ (the project's own, else the checkout's) plus overrides -> a validated params.yaml."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from kombat import compose
from kombat.errors import ConfigError, KombatError

from .conftest import ROOT


@pytest.mark.parametrize("override, said", [("head.nope=3", "Could not override 'head.nope'"),
                                            ("head=nope", "Could not find 'head/nope'"),
                                            ("head.units", "Error parsing override 'head.units'")])
def test_a_bad_override_is_one_line_naming_it(override, said):
    with pytest.raises(KombatError) as raised:
        compose.compose([override], ROOT / "conf")
    message = str(raised.value)
    assert message.startswith(f"conf/ with overrides ['{override}']: ") and said in message
    assert "\n" not in message


def test_the_project_s_own_conf_is_composed_and_the_checkout_s_elsewhere(tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "conf", project / "conf")
    (project / "dvc.yaml").write_text("stages: {}\n")
    head = project / "conf/head/temporal.yaml"
    head.write_text(re.sub(r"(?m)^units: \d+", "units: 48", head.read_text()))
    (project / "src").mkdir()
    monkeypatch.chdir(project / "src")  # found upward from a subfolder, as DVC runs stages from the root
    assert compose.compose([])["head"]["units"] == 48
    assert compose.default_config(["head.units=12"]).head.units == 12  # an override still wins
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert compose.compose([]) == compose.compose([], compose.CHECKOUT_CONF)
    assert compose.CHECKOUT_CONF == ROOT / "conf"


def test_main_writes_the_composition_it_validated(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "params.yaml"
    assert compose.main(["data=tiny", "head.units=256", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == compose.compose(["data=tiny", "head.units=256"])
    assert capsys.readouterr().out == f"wrote {out} from conf/ data=tiny head.units=256\n"
    written = out.read_text()
    # Composes fine but fails the schema: nothing is written over the last good file.
    assert compose.main(["train.lr=fast", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kombat compose: error: ") and "train.lr" in err and err.count("\n") == 1
    assert out.read_text() == written
    assert compose.main(["head=nope", "--out", str(out)]) == 2 and out.read_text() == written


def test_default_config_names_its_overrides_when_they_break_a_rule():
    with pytest.raises(ConfigError, match=r"^conf/ \+ \['play.interval_s=0.05'\]: .*play.interval_s"):
        compose.default_config(["play.interval_s=0.05"])
