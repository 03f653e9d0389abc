"""Cross-validation by actor on the pipeline's cached embeddings: how good a config is, with its spread.

    python -m kombat.crossval                                   # conf/'s defaults, leave one actor out
    python -m kombat.crossval embed.input=flow head=dense crossval.folds=4
    python -m kombat.crossval --curve                           # and the learning curve

A fold trains on any actor, so the embeddings must hold every split's augmented copies, made once by
`python -m kombat.compose 'augment.splits=[train,val,test]' && dvc repro` (check_copies says so).

With a handful of actors one split says little (the same two people scored 0.80 as validation
actors and 0.58 as test actors). Each fold (kombat.data.fold_splits) tests actors it never trained
on, early-stops on others, and trains on the rest: a child MLflow run with its scores. The parent
run logs each figure's mean and standard deviation over the folds (`macro_f1_mean`, `f1_punch_sd`,
`val_macro_f1_mean`, ...); `metrics/crossval.json` keeps them. Named `split.test_actors` are the
only ones tested, and never trained on (a second place, say). One person alone: folds by take.

`--curve` answers "how many people (or takes) do I need?": every fold again with 1, 2, ... of its
training actors, macro-F1 against their number in `metrics/learning_curve.csv` (a DVC plot) and
`plots/learning_curve.png`. Like a sweep, it composes conf/ with the overrides and never re-embeds:
`crossval.folds` in conf/config.yaml sets the folds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kombat import schema, tracking, training
from kombat.compose import default_config
from kombat.data import fewer_training, fold_splits, split_unit_of
from kombat.errors import KombatError
from kombat.schema import KombatConfig
from kombat.storage import atomic_write_text, project_root, write_json
from kombat.sweep import EMBEDDINGS_DIR, check_embeddings

FIGURES = ("macro_f1", "accuracy")  # and f1_<class> of each class, and val_macro_f1
OUT = Path("metrics/crossval.json")
CURVE_CSV, CURVE_PNG = Path("metrics/learning_curve.csv"), Path("plots/learning_curve.png")


def figures(cfg: KombatConfig) -> list[str]:
    return [*FIGURES, *(f"f1_{name}" for name in cfg.classes), "val_macro_f1"]


def summarise(fold_scores: list[dict[str, float]], names: list[str]) -> dict[str, float]:
    """Each figure's mean and (sample) standard deviation over the folds."""
    summary = {}
    for name in names:
        values = np.array([scores[name] for scores in fold_scores], dtype=float)
        summary[f"{name}_mean"] = float(values.mean())
        summary[f"{name}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return summary


# Each fold picks its own training targets from the labels (training.target_rows, balance.method), so the
# balance stage's `target` column is never read: crossval compares balance methods on one set of embeddings.
REBALANCED = ("balance",)
GROUP_COLUMN = {"actor": "actor", "take": "source"}  # the manifest column a fold's groups name


def assigned_splits(manifest: pd.DataFrame, fold: dict[str, str]) -> np.ndarray:
    """Each row's split in a fold ('' for none): its actor's, or its video's when folds are by take."""
    return manifest[GROUP_COLUMN[split_unit_of(manifest)]].map(fold).fillna("").to_numpy()


def run_fold(cfg: KombatConfig, features: np.ndarray, manifest: pd.DataFrame, groups: dict[str, str],
             name: str, parent: str, kind: str) -> dict[str, float]:
    """Train and score one fold as a child MLflow run (never a package candidate)."""
    import mlflow

    splits = training.make_splits(features, manifest, cfg, assigned=assigned_splits(manifest, groups))
    tags = {"kombat.kind": kind, "mlflow.parentRunId": parent}
    with tracking.run_context(cfg, run_name=name, nested=True, tags=tags):
        members = {split: ",".join(sorted(g for g, s in groups.items() if s == split)) for split in ("train", "val", "test")}
        mlflow.log_params({**tracking.run_params(cfg), "fold": name, **{f"{s}_groups": v[:6000] for s, v in members.items()},
                           "train_groups_n": sum(s == "train" for s in groups.values())})
        result = training.fit(cfg, splits["train"], splits["val"], verbose=0)
        scores = training.score_splits(result.model, splits, cfg)
        mlflow.log_metrics({**scores, "best_epoch": result.best_epoch})
    return scores


def check_copies(built: KombatConfig) -> None:
    """Stop unless the embeddings (made with `built`, params.yaml) hold every split's augmented copies: a fold
    trains on any actor, and one trained on copies of some actors only would not score the config it names."""
    missing = [split for split in ("train", "val", "test") if split not in built.augment.splits]
    if built.augment.copies and missing:
        raise KombatError(
            f"the embeddings were made with augment.splits={list(built.augment.splits)} (params.yaml): the "
            f"{'/'.join(missing)} actors have no augmented copies, and a fold trains on any actor: run `python -m "
            f"kombat.compose 'augment.splits=[train,val,test]' && dvc repro` once first (add the pipeline's other "
            f"overrides, e.g. data=videos; its own model does not change: its training clips' copies stay the same)")


def crossvalidate(cfg: KombatConfig, root: Path, overrides: list[str], curve: bool, out: Path = OUT) -> str:
    import mlflow

    check_copies(schema.load(root / "params.yaml"))
    check_embeddings(cfg, root, free=REBALANCED)
    features, manifest = training.read_features(root / EMBEDDINGS_DIR, cfg)
    unit = split_unit_of(manifest)
    groups = manifest[GROUP_COLUMN[unit]].tolist()
    folds = fold_splits(groups, cfg.split, cfg.crossval.folds, unit)
    names = figures(cfg)
    started = time.perf_counter()
    tags = {"kombat.kind": "crossval", "mlflow.source.git.commit": tracking.git_commit(root)}
    with tracking.run_context(cfg, run_name=f"crossval {' '.join(overrides) or 'defaults'}", tags=tags) as parent:
        mlflow.log_params({**tracking.run_params(cfg), "overrides": " ".join(overrides)[:6000], "folds": len(folds),
                           "fold_unit": unit})
        fold_scores = []
        for i, fold in enumerate(folds, start=1):
            scores = run_fold(cfg, features, manifest, fold, f"fold {i}", parent.info.run_id, "crossval-fold")
            fold_scores.append(scores)
            tested = ", ".join(sorted(g for g, s in fold.items() if s == "test"))
            print(f"fold {i}/{len(folds)} (test {tested}): macro-F1 {scores['macro_f1']:.3f}, "
                  f"val {scores['val_macro_f1']:.3f}", flush=True)
        summary = summarise(fold_scores, names)
        mlflow.log_metrics(summary)
        curve_rows = learning_curve(cfg, features, manifest, folds, parent.info.run_id, root) if curve else []
    write_json(root / out, {"overrides": overrides, "unit": unit, "folds": [
        {"groups": fold, **{name: scores[name] for name in names}} for fold, scores in zip(folds, fold_scores)],
        **summary})
    line = (f"{len(folds)} folds by {unit}: macro-F1 {summary['macro_f1_mean']:.3f} +- {summary['macro_f1_sd']:.3f} "
            f"(val {summary['val_macro_f1_mean']:.3f} +- {summary['val_macro_f1_sd']:.3f}); "
            + ", ".join(f"{name} {summary[name + '_mean']:.2f}" for name in names if name.startswith("f1_"))
            + f"; MLflow run {parent.info.run_id}; {out}")
    if curve_rows:
        line += f"; learning curve in {CURVE_CSV} and {CURVE_PNG}"
    return line + f" [{time.perf_counter() - started:.0f} s]"


def learning_curve(cfg: KombatConfig, features: np.ndarray, manifest: pd.DataFrame, folds: list[dict[str, str]],
                   parent: str, root: Path) -> list[dict]:
    """Every fold with 1, 2, ... of its training groups: test macro-F1 against their number."""
    most = min(sum(s == "train" for s in fold.values()) for fold in folds)
    rows = []
    for n in range(1, most + 1):
        scores = [run_fold(cfg, features, manifest, fewer_training(fold, n, cfg.split.seed + i),
                           f"curve {n} fold {i}", parent, "learning-curve")
                  for i, fold in enumerate(folds, start=1)]
        summary = summarise(scores, ["macro_f1", "val_macro_f1"])
        rows.append({"train_groups": n, **summary, "folds": len(folds)})
        print(f"learning curve: {n} training group(s): macro-F1 {summary['macro_f1_mean']:.3f} +- "
              f"{summary['macro_f1_sd']:.3f}", flush=True)
    table = pd.DataFrame(rows)
    atomic_write_text(root / CURVE_CSV, table.to_csv(index=False))
    curve_png(table, root / CURVE_PNG)
    return rows


def curve_png(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
    for name, label in (("macro_f1", "test (held-out groups)"), ("val_macro_f1", "validation")):
        ax.errorbar(table["train_groups"], table[f"{name}_mean"], yerr=table[f"{name}_sd"], marker="o", capsize=3,
                    label=label)
    ax.set_xlabel("training actors (or takes)")
    ax.set_ylabel("macro-F1, mean +- sd over folds")
    ax.set_ylim(0, 1)
    ax.set_xticks(table["train_groups"])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("How many people do I need?")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kombat.crossval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. embed.input=flow head=dense")
    parser.add_argument("--curve", action="store_true", help="also the learning curve (macro-F1 against training actors)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the figures, as JSON (default {OUT})")
    args = parser.parse_args(argv)
    try:
        cfg = default_config(args.overrides)
        print(f"crossval: {crossvalidate(cfg, project_root(), args.overrides, args.curve, args.out)}")
    except KombatError as exc:
        print(f"kombat crossval: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
