"""What `make demo` prints at the end: the held-out figures of evaluate.json, what validation meant, where things are."""

from __future__ import annotations

import yaml

from kombat import summary
from kombat.compose import compose
from kombat.data import VALIDATION_MEANS
from kombat.storage import write_json


def demo_project(folder, overrides=(), split_by=None, packaged=False):
    """The files `make demo` leaves behind, with figures chosen here."""
    raw = compose(list(overrides))
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    classes = {"three_class": ["punch", "kick", "other"], "punch_binary": ["no_punch", "punch"]}[raw["task"]["name"]]
    report = {"accuracy": 0.9123, "balanced_accuracy": 0.8014, "macro_f1": 0.7779, "val_macro_f1": 0.8561,
              "test_frames": 321, **{f"f1_{c}": 0.5 + i / 10 for i, c in enumerate(classes)}}
    write_json(folder / "metrics/evaluate.json", report)
    write_json(folder / "models/run.json", {"run_id": "r0123", "layer": "conv_pw_12_relu"})
    if split_by:
        write_json(folder / "data/frames/counts.json", {"split_by": split_by})
    if packaged:
        write_json(folder / "models/package/labels.json", {"run_id": "r0123", "registered_model": "kombat@champion",
                                                           "version": "3"})
        rule = {"precision": 0.54, "recall": 0.85, "precision_punch": 0.5, "recall_punch": 0.8, "precision_kick": 0.6,
                "recall_kick": 0.9, "false_actions_per_quiet_minute": 1.25}
        write_json(folder / "metrics/play_events.json", {"fitted": True, "test": {
            "chosen": rule, "fixed": {**rule, "precision": 0.27, "recall": 0.65, "false_actions_per_quiet_minute": 6.0}}})


def printed(folder, monkeypatch, capsys) -> list[str]:
    monkeypatch.chdir(folder)
    assert summary.main() == 0
    return capsys.readouterr().out.splitlines()


def test_the_summary_reports_evaluate_json_and_says_what_a_split_by_take_means(tmp_path, monkeypatch, capsys):
    demo_project(tmp_path, split_by="take", packaged=True)
    lines = printed(tmp_path, monkeypatch, capsys)
    assert f"  split by take: {VALIDATION_MEANS['take']}" in lines
    assert "  held-out takes: accuracy 0.912, balanced accuracy 0.801, macro-F1 0.778 on 321 frames" in lines
    assert "  per class F1: punch 0.500, kick 0.600, other 0.700" in lines
    assert "  validation macro-F1 (used to pick models): 0.856" in lines
    assert "  head: models/head.keras (layer conv_pw_12_relu), MLflow run r0123" in lines
    assert any(line.startswith("  play: models/package/ (champion run r0123, registered kombat@champion v3)")
               for line in lines)
    assert ("  play rule (fitted on the validation clips) on the held-out takes' clips: event precision 0.54, recall "
            "0.85 (punch 0.50 / 0.80, kick 0.60 / 0.90); 1.25 actions per minute without a strike (the fixed rule: "
            "0.27 / 0.65, 6.00)") in lines
    assert lines[-1].endswith(f"(store sqlite:///{tmp_path / 'mlflow.db'})")  # the project's own store


def test_without_counts_or_a_package_it_says_actors_and_no_play_line(tmp_path, monkeypatch, capsys):
    demo_project(tmp_path, overrides=["task=punch_binary"])
    lines = printed(tmp_path, monkeypatch, capsys)
    assert f"  split by actor: {VALIDATION_MEANS['actor']}" in lines
    assert any(line.startswith("  held-out actors: accuracy 0.912") for line in lines)
    assert "  per class F1: no_punch 0.500, punch 0.600" in lines  # the task's classes, in its order
    assert not any(line.lstrip().startswith(("play:", "play rule")) for line in lines)
    assert summary.package_lines(tmp_path / "models/package/labels.json") == []


def test_a_tracking_uri_in_params_is_the_store_it_names(tmp_path, monkeypatch, capsys):
    demo_project(tmp_path, overrides=["mlflow.tracking_uri=http://mlflow.example:5000"], split_by="actor")
    assert printed(tmp_path, monkeypatch, capsys)[-1].endswith("(store http://mlflow.example:5000)")
