"""What `make demo` prints at the end: the held-out scores, where the model is, how to look closer."""

from __future__ import annotations

import json
from pathlib import Path

from kombat import schema
from kombat.data import VALIDATION_MEANS
from kombat.tracking import tracking_uri


def package_lines(labels_path: Path) -> list[str]:
    if not labels_path.is_file():
        return []
    labels = json.loads(labels_path.read_text())
    return [f"  play: models/package/ (champion run {labels['run_id']}, registered {labels['registered_model']} "
            f"v{labels['version']}); `make play`, or copy the folder and run `python play.py`"]


def play_event_lines(events_path: Path, split_by: str, classes: tuple[str, ...]) -> list[str]:
    """The packaged play rule's events on the held-out clips (the package stage's metrics/play_events.json)."""
    if not events_path.is_file():
        return []
    events = json.loads(events_path.read_text())
    test = events["test"]["chosen"]
    per_class = ", ".join(f"{c} {test[f'precision_{c}']:.2f} / {test[f'recall_{c}']:.2f}"
                          for c in classes if f"precision_{c}" in test)
    rule = "fitted on the validation clips" if events["fitted"] else "fixed (conf's play.*)"
    return [f"  play rule ({rule}) on the held-out {split_by}s' clips: event precision {test['precision']:.2f}, "
            f"recall {test['recall']:.2f} ({per_class}); {test['false_actions_per_quiet_minute']:.2f} actions per "
            f"minute without a strike (the fixed rule: {events['test']['fixed']['precision']:.2f} / "
            f"{events['test']['fixed']['recall']:.2f}, {events['test']['fixed']['false_actions_per_quiet_minute']:.2f})"]


def main() -> int:
    cfg = schema.load()
    report = json.loads(Path("metrics/evaluate.json").read_text())
    run = json.loads(Path("models/run.json").read_text())
    classes = cfg.classes
    counts_path = Path("data/frames/counts.json")
    split_by = json.loads(counts_path.read_text()).get("split_by", "actor") if counts_path.is_file() else "actor"
    lines = [
        "",
        "kombat demo: done",
        f"  split by {split_by}: {VALIDATION_MEANS[split_by]}",
        f"  held-out {split_by}s: accuracy {report['accuracy']:.3f}, balanced accuracy {report['balanced_accuracy']:.3f}, "
        f"macro-F1 {report['macro_f1']:.3f} on {report['test_frames']} frames",
        "  per class F1: " + ", ".join(f"{c} {report[f'f1_{c}']:.3f}" for c in classes),
        f"  validation macro-F1 (used to pick models): {report['val_macro_f1']:.3f}",
        f"  head: models/head.keras (layer {run['layer']}), MLflow run {run['run_id']}",
        "  confusion matrix: plots/confusion_matrix.png; all figures: dvc metrics show, dvc plots show",
        *package_lines(Path("models/package/labels.json")),
        *play_event_lines(Path("metrics/play_events.json"), split_by, classes),
        f"  MLflow: make ui, then http://127.0.0.1:5000 (store {tracking_uri(cfg)})",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
