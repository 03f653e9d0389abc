"""Sweep: Hydra multirun over any config key; each job trains and scores a head on the cached
embeddings of the DVC pipeline (it never extracts, augments or embeds), as one MLflow child run.

    python -m kombat.sweep --multirun embed.layer=conv_pw_13_relu,conv_pw_11_relu \\
        head.units=256,1024 train.lr=1e-3,1e-4
    python -m kombat.sweep --multirun hydra/launcher=joblib head.units=256,1024
    python -m kombat.sweep --multirun +hparams_search=optuna

A parent MLflow run per sweep holds the overrides, the number of jobs and the best child by
validation macro-F1 (never by the test figures). A failing job ends FAILED and the rest go on.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from kombat import schema, tracking, training
from kombat.errors import KombatError
from kombat.schema import KombatConfig
from kombat.storage import project_root

EMBEDDINGS_DIR = Path("data/embeddings")
PARENT_FILE = "mlflow_parent_run.txt"
PARENT_ENV = "KOMBAT_SWEEP_PARENT_RUN"
EMBED_STAGE = "embed"  # the stage whose outputs a sweep trains on
# Read by the embed stage only to know which inputs to embed: a sweep may vary it over what is embedded
# (check_embeddings says when an input is not).
SWEEPABLE = ("embed.input",)


def upstream_keys(root: Path) -> list[str]:
    """Keys whose change needs new embeddings (a sweep may not vary them): the params of the embed stage
    and of every stage upstream of it, read from dvc.yaml (deps matched to outs, ${...} resolved)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((root / "params.yaml").read_text())

    def resolved(path: str) -> str:
        return re.sub(r"\$\{([\w.]+)\}", lambda m: str(_get(params, m.group(1))), path)

    made_by = {resolved(out): name for name, stage in stages.items() for out in stage.get("outs", [])
               if isinstance(out, str)}
    todo, upstream = [EMBED_STAGE], []
    while todo:
        name = todo.pop()
        if name not in upstream:
            upstream.append(name)
            todo += [made_by[resolved(dep)] for dep in stages[name].get("deps", []) if resolved(dep) in made_by]
    return [key for name in upstream for key in stages[name].get("params", []) if key not in SWEEPABLE]


def _get(tree: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def _leaves(tree: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() for leaf in _leaves(v, f"{prefix}.{k}")]
    return [(prefix, tree)]


# Upstream keys no trainer reads from the embeddings: the training split's augmented copies are the same bytes
# whichever other splits are copied (crossval checks that every split was copied itself: crossval.check_copies).
NEVER_READ = ("augment.splits",)


def _override(value: Any) -> str:
    """A value as a Hydra override writes it: [a,b] for a list."""
    return f"[{','.join(map(str, value))}]" if isinstance(value, list) else str(value)


def check_embeddings(cfg: KombatConfig, root: Path, free: tuple[str, ...] = ()) -> None:
    """Stop unless the pipeline's cached embeddings were made with this config's upstream keys (but the
    sections in `free`, which the caller does not read from them, and NEVER_READ) and hold `embed.layer`,
    saying which command makes them."""
    built = schema.to_dict(schema.load(root / "params.yaml"))
    wanted = schema.to_dict(cfg)
    for section in (key for key in upstream_keys(root) if key.split(".")[0] not in free):
        for key, value in _leaves(_get(wanted, section), section):
            made_with = _get(built, key)
            if value != made_with and key not in NEVER_READ:
                raise KombatError(
                    f"{key}={_override(value)} but {EMBEDDINGS_DIR}/ was made with {key}={_override(made_with)} "
                    f"(params.yaml), and a sweep never re-embeds: run `python -m kombat.compose "
                    f"'{key}={_override(value)}' && dvc repro embed` first")
    for kind in cfg.embed.input_parts:
        if not (root / EMBEDDINGS_DIR / kind).is_dir():
            raise KombatError(f"{EMBEDDINGS_DIR}/{kind}/ is missing: embed it beside the run's own input once, "
                              f"`python -m kombat.compose embed.candidate_inputs=[...,{kind}] && dvc repro embed`")
        if not (root / EMBEDDINGS_DIR / kind / f"{cfg.embed.layer}.npy").is_file():
            raise KombatError(f"{EMBEDDINGS_DIR}/{kind}/{cfg.embed.layer}.npy is missing: run `dvc repro embed` "
                              f"(embed.layer must be one of backbone.candidate_layers)")


def _validated(node: DictConfig) -> KombatConfig:
    plain = OmegaConf.to_container(node, resolve=False)
    plain.pop("hydra", None)  # only resolvable inside a job
    return schema.validate(OmegaConf.to_container(OmegaConf.create(plain), resolve=True), source="sweep config")


def sweep_values(overrides: list[str]) -> list[tuple[str, str]]:
    """Every (key, value) a sweep's command-line overrides will set, sweeps expanded."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    pairs = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        pairs += [(override.get_key_element(), value) for value in values]
    return pairs


class ParentRunCallback(Callback):
    """Opens the sweep's parent MLflow run before the first job and sums it up after the last."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        import mlflow

        root = project_root()
        try:
            base = _validated(config)
            sections = set(schema.to_dict(base))
            for key, value in sweep_values(list(config.hydra.overrides.task)):
                key = key.lstrip("+~")
                if "." not in key or key.split(".")[0] not in sections:
                    continue  # group choices (data=..., hydra/launcher=...) are checked by each job
                trial = OmegaConf.create(OmegaConf.to_container(config, resolve=False))
                OmegaConf.update(trial, key, yaml_value(value), force_add=True)
                check_embeddings(_validated(trial), root)
            check_embeddings(base, root)
            experiment_id = tracking.experiment_id(base)
        except KombatError as exc:
            print(f"kombat sweep: error: {exc}", file=sys.stderr)
            sys.exit(2)
        overrides = " ".join(config.hydra.overrides.task)
        client = mlflow.MlflowClient(tracking.tracking_uri(base))
        run = client.create_run(experiment_id, run_name=f"sweep {overrides}"[:240],
                                tags={"kombat.kind": "sweep", "mlflow.source.git.commit": tracking.git_commit(root)})
        client.log_param(run.info.run_id, "overrides", overrides[:6000])
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(run.info.run_id)
        os.environ[PARENT_ENV] = run.info.run_id
        print(f"sweep: MLflow parent run {run.info.run_id}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import mlflow

        base = _validated(config)
        parent = (Path(config.hydra.sweep.dir) / PARENT_FILE).read_text().strip()
        client = mlflow.MlflowClient(tracking.tracking_uri(base))
        children = client.search_runs([client.get_run(parent).info.experiment_id],
                                      filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=10000)
        finished = [c for c in children if c.info.status == "FINISHED" and "val_macro_f1" in c.data.metrics]
        client.log_param(parent, "n_jobs", len(children))
        client.log_metric(parent, "failed_jobs", len(children) - len(finished))
        if finished:
            best = max(finished, key=lambda c: c.data.metrics["val_macro_f1"])
            client.set_tag(parent, "best_child_run_id", best.info.run_id)
            client.log_metric(parent, "best_val_macro_f1", best.data.metrics["val_macro_f1"])
            client.log_metric(parent, "best_test_macro_f1", best.data.metrics["macro_f1"])
            print(f"sweep: {len(finished)}/{len(children)} jobs finished; best by val macro-F1 "
                  f"{best.data.metrics['val_macro_f1']:.3f}: run {best.info.run_id} ({best.data.params.get('overrides', '')})")
            print("sweep: `dvc repro --force --single-item package` packages the best run of the experiment")
        client.set_terminated(parent, "FINISHED" if finished else "FAILED")


def yaml_value(text: str) -> Any:
    """An override's value as YAML reads it (1e-3 -> float, 256 -> int, name -> str)."""
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-3 as a string
        except ValueError:
            return value
    return value


def parent_run_id() -> str | None:
    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    try:
        return (Path(HydraConfig.get().sweep.dir) / PARENT_FILE).read_text().strip()
    except (ValueError, OSError):
        return None


def run_job(cfg: KombatConfig, root: Path, overrides: str, parent: str | None) -> float:
    """Train and score one head; return its validation macro-F1 (the number a sweeper maximises)."""
    import mlflow

    embeddings_dir = root / EMBEDDINGS_DIR
    tags = {"kombat.kind": "sweep-job", "mlflow.source.git.commit": tracking.git_commit(root)}
    if parent:
        tags["mlflow.parentRunId"] = parent
    with tracking.run_context(cfg, run_name=overrides or "defaults", tags=tags):
        mlflow.log_params({**tracking.run_params(cfg), "overrides": overrides[:6000]})  # a failed run says what it tried
        check_embeddings(cfg, root)
        splits = training.load_splits(embeddings_dir, cfg)
        result = training.train_logged(cfg, embeddings_dir, splits, verbose=0)
        scores = training.score_splits(result.model, splits, cfg)
        mlflow.log_metrics(scores)
    print(f"job {overrides or 'defaults'}: val macro-F1 {scores['val_macro_f1']:.3f}, test macro-F1 {scores['macro_f1']:.3f}")
    return scores["val_macro_f1"]


def record_invalid_job(overrides: str, parent: str | None, error: str) -> None:
    """A job whose config does not validate still leaves a FAILED child run saying why."""
    import mlflow

    base = schema.load(project_root() / "params.yaml")
    client = mlflow.MlflowClient(tracking.tracking_uri(base))
    tags = {"kombat.kind": "sweep-job", "kombat.error": error[:5000]}
    if parent:
        tags["mlflow.parentRunId"] = parent
    run = client.create_run(tracking.experiment_id(base), run_name=overrides, tags=tags)
    client.log_param(run.info.run_id, "overrides", overrides[:6000])
    client.set_terminated(run.info.run_id, "FAILED")


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
def main(node: DictConfig) -> float:
    overrides = HydraConfig.get().job.override_dirname
    try:
        cfg = _validated(node)
    except KombatError as exc:
        record_invalid_job(overrides, parent_run_id(), str(exc))
        print(f"kombat sweep: job {overrides!r} failed: {exc}", file=sys.stderr)
        return math.nan
    try:
        return run_job(cfg, project_root(), overrides, parent_run_id())
    except Exception as exc:  # one failing job is logged FAILED (run_context) and the sweep goes on
        print(f"kombat sweep: job {overrides!r} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return math.nan


if __name__ == "__main__":
    main()
