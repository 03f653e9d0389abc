"""The shared command line: a stage gets its validated config and paths; bad input is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kombat import cli, schema
from kombat.compose import compose
from kombat.errors import ConfigError, DataError, KombatError, WeightsError

PATHS = {"frames_dir": "frames dataset", "out_dir": "output folder"}


def params_file(folder: Path, **changes) -> Path:
    """conf/'s defaults as a params file, with `section__key=value` changes."""
    raw = compose([])
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        raw[section][key] = value
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_stage_gets_the_validated_config_and_its_paths_and_prints_its_summary(tmp_path, capsys):
    params = params_file(tmp_path, head__units=17)
    seen = {}

    def run(cfg, frames_dir, out_dir):
        seen.update(cfg=cfg, frames_dir=frames_dir, out_dir=out_dir)
        return "42 frames"

    code = cli.stage_main("demo", None, run, PATHS,
                          ["--params", str(params), "--frames-dir", "a/frames", "--out-dir", "b"])
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    assert isinstance(seen["cfg"], schema.KombatConfig) and seen["cfg"].head.units == 17  # this file, not the default
    assert (seen["frames_dir"], seen["out_dir"]) == (Path("a/frames"), Path("b"))
    assert out.out.startswith("demo: 42 frames [") and out.out.rstrip().endswith(" s]")


@pytest.mark.parametrize("error", [KombatError, ConfigError, DataError, WeightsError])
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, error):
    def run(cfg, frames_dir, out_dir):
        raise error(f"{frames_dir}/manifest.csv: not found")

    code = cli.stage_main("balance", None, run, PATHS, ["--params", str(params_file(tmp_path)), "--frames-dir", "f",
                                                        "--out-dir", "o"])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    assert out.err == "kombat balance: error: f/manifest.csv: not found\n"


def test_a_bad_params_file_stops_before_the_stage_runs_naming_the_key(tmp_path, capsys):
    calls = []
    params = params_file(tmp_path, train__lr="fast")
    code = cli.stage_main("train", None, lambda cfg, **paths: calls.append(paths), PATHS,
                          ["--params", str(params), "--frames-dir", "f", "--out-dir", "o"])
    err = capsys.readouterr().err
    assert code == 2 and calls == []
    assert err.startswith(f"kombat train: error: {params}: ") and "train.lr" in err and err.count("\n") == 1
    code = cli.stage_main("train", None, lambda cfg, **paths: calls.append(paths), PATHS,
                          ["--params", str(tmp_path / "missing.yaml"), "--frames-dir", "f", "--out-dir", "o"])
    assert code == 2 and calls == [] and "missing.yaml: not found" in capsys.readouterr().err


def test_ctrl_c_exits_130_saying_earlier_outputs_are_untouched(tmp_path, capsys):
    def run(cfg, frames_dir, out_dir):
        raise KeyboardInterrupt

    code = cli.stage_main("embed", None, run, PATHS, ["--params", str(params_file(tmp_path)), "--frames-dir", "f",
                                                      "--out-dir", "o"])
    assert code == 130
    assert capsys.readouterr().err == "kombat embed: interrupted; earlier outputs are untouched\n"


def test_a_bug_is_not_dressed_up_as_bad_input(tmp_path):
    """Only KombatError is the user's to fix; anything else keeps its traceback."""
    def run(cfg, frames_dir, out_dir):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        cli.stage_main("evaluate", None, run, PATHS, ["--params", str(params_file(tmp_path)), "--frames-dir", "f",
                                                      "--out-dir", "o"])


def test_every_path_flag_is_required(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.stage_main("balance", None, lambda cfg, **paths: "", PATHS, ["--params", str(params_file(tmp_path)),
                                                                          "--frames-dir", "f"])
    assert stopped.value.code == 2 and "--out-dir" in capsys.readouterr().err


def test_a_tool_prints_its_summary_or_one_error_line(capsys):
    assert cli.tool_main("record", lambda: "2 takes recorded") == 0
    assert capsys.readouterr() == ("2 takes recorded\n", "")

    def refuse():
        raise DataError("annotations.csv: row 3: unknown label 'jump'")

    assert cli.tool_main("label", refuse) == 2
    assert capsys.readouterr() == ("", "kombat label: error: annotations.csv: row 3: unknown label 'jump'\n")
