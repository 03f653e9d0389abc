"""Sweeps: Hydra multirun on the pipeline's cached embeddings, one MLflow parent and a child per job."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import copy_project, needs_weights, project_env

pytestmark = [needs_weights, pytest.mark.slow]  # sweeps over a built pipeline (make test-all, CI)
BUILT_WITH = ["data=tiny", "augment.copies=1", "embed.candidate_inputs=[motion,flow]"]  # flow embedded too: a sweep over inputs


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A tiny project whose pipeline has run: embeddings on disk."""
    project = copy_project(tmp_path_factory.mktemp("sweep"))
    env = project_env()
    subprocess.run(["python", "-m", "kombat.compose", *BUILT_WITH], cwd=project, env=env, check=True)
    subprocess.run(["dvc", "repro", "embed"], cwd=project, env=env, check=True, capture_output=True)
    return project


def sweep(project: Path, *overrides: str) -> subprocess.CompletedProcess:
    # The sweep composes conf/ like `dvc exp run`: repeat the choices the pipeline was built with.
    return subprocess.run(["python", "-m", "kombat.sweep", "--multirun", *BUILT_WITH, *overrides], cwd=project, env=project_env(),
                          capture_output=True, text=True, timeout=600)


def fingerprint(folder: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def client(project: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def parent_and_children(project: Path, out: str):
    parent_id = out.split("MLflow parent run ")[1].split()[0]
    c = client(project)
    parent = c.get_run(parent_id)
    children = c.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    return parent, children


def test_a_sweep_over_head_and_input_logs_parent_and_children_and_never_re_embeds(built):
    before = fingerprint(built / "data/embeddings")
    out = sweep(built, "head=dense,temporal", "embed.input=motion,flow", "head.units=16", "train.epochs=3")
    assert out.returncode == 0, out.stderr[-3000:]
    parent, children = parent_and_children(built, out.stdout)
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
    assert {(c.data.params["head"], c.data.params["window"], c.data.params["input"]) for c in children} == {
        ("dense", "1", "motion"), ("dense", "1", "flow"), ("temporal", "8", "motion"), ("temporal", "8", "flow")}
    for child in children:
        assert child.data.params["layer"] == "conv_pw_13_relu" and child.data.params["augment_copies"] == "1"
        assert {"accuracy", "macro_f1", "val_macro_f1", "balanced_accuracy"} <= child.data.metrics.keys()
        assert len(child.data.params["data_fingerprint"]) == 16 and child.data.tags["mlflow.source.git.commit"]
    best = max(children, key=lambda c: c.data.metrics["val_macro_f1"])  # by validation, never by test
    assert parent.info.status == "FINISHED"
    assert parent.data.params["n_jobs"] == "4" and parent.data.metrics["failed_jobs"] == 0
    assert parent.data.tags["best_child_run_id"] == best.info.run_id
    assert parent.data.metrics["best_val_macro_f1"] == best.data.metrics["val_macro_f1"]
    assert fingerprint(built / "data/embeddings") == before  # same mtimes and bytes


def test_package_takes_the_best_run_by_validation_from_pipeline_and_sweeps(built):
    out = subprocess.run(["dvc", "repro", "package"], cwd=built, env=project_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    c = client(built)
    experiment = c.get_experiment_by_name("kombat").experiment_id
    candidates = c.search_runs([experiment], filter_string="tags.`kombat.candidate` = 'true' and "
                                                           "attributes.status = 'FINISHED'")
    assert {run.data.tags["kombat.kind"] for run in candidates} == {"pipeline", "sweep-job"}
    best = max(candidates, key=lambda run: (run.data.metrics["val_macro_f1"], run.info.start_time))
    assert json.loads((built / "models/package/labels.json").read_text())["run_id"] == best.info.run_id
    assert c.get_model_version_by_alias("kombat", "champion").run_id == best.info.run_id
    assert f"val_macro_f1` = {best.data.metrics['val_macro_f1']:.4f}" in (built / "models/package/README.md").read_text()


def test_invalid_values_stop_the_sweep_before_the_first_job(built):
    out = sweep(built, "head.units=16,-4", "train.epochs=2")
    assert out.returncode == 2 and "head.units must be > 0, got -4" in out.stderr
    assert "Launching" not in out.stdout


def test_a_failing_job_is_failed_and_the_others_go_on(built):
    damaged = built / "data/embeddings/motion/conv_pw_11_relu.npy"
    good = damaged.read_bytes()
    damaged.write_bytes(b"not an array")  # found only when that job reads it
    try:
        out = sweep(built, "embed.layer=conv_pw_13_relu,conv_pw_11_relu", "train.epochs=2")
    finally:
        damaged.write_bytes(good)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "embed.layer=conv_pw_11_relu" in out.stderr and "failed" in out.stderr
    parent, children = parent_and_children(built, out.stdout)
    status = {c.data.params["layer"]: c.info.status for c in children}
    assert status == {"conv_pw_13_relu": "FINISHED", "conv_pw_11_relu": "FAILED"}
    assert parent.data.metrics["failed_jobs"] == 1 and parent.info.status == "FINISHED"


def test_sweep_refuses_keys_that_need_new_embeddings(built):
    built_but_copies = [o for o in BUILT_WITH if not o.startswith("augment.copies=")]
    out = subprocess.run(["python", "-m", "kombat.sweep", "--multirun", *built_but_copies, "augment.copies=3,4"], cwd=built,
                         env=project_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 2
    assert "augment.copies=3 but data/embeddings/ was made with augment.copies=1" in out.stderr
    assert "dvc repro embed" in out.stderr and "Launching" not in out.stdout


def test_joblib_launcher_runs_jobs_in_parallel_processes(built):
    out = sweep(built, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "head.units=16,32", "train.epochs=2")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Joblib.Parallel" in out.stdout + out.stderr
    _, children = parent_and_children(built, out.stdout)
    assert sorted(c.data.params["units"] for c in children) == ["16", "32"]
    assert {c.info.status for c in children} == {"FINISHED"}


def test_ray_launcher_on_a_local_instance(built):
    out = sweep(built, "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2", "head.units=16,32", "train.epochs=2")
    assert out.returncode == 0, out.stderr[-3000:]
    _, children = parent_and_children(built, out.stdout)
    assert sorted(c.data.params["units"] for c in children) == ["16", "32"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_server_serves_the_sweep_over_rest(built):
    out = sweep(built, "head.units=16,32", "train.epochs=2")
    parent_id = out.stdout.split("MLflow parent run ")[1].split()[0]
    port = free_port()
    server = subprocess.Popen(["mlflow", "server", "--backend-store-uri", f"sqlite:///{built / 'mlflow.db'}",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=built, env=project_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not come up within 60 s")
        experiment = json.load(urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=kombat"))
        body = json.dumps({"experiment_ids": [experiment["experiment"]["experiment_id"]],
                           "filter": f"tags.mlflow.parentRunId = '{parent_id}'"}).encode()
        request = urllib.request.Request(f"{base}/api/2.0/mlflow/runs/search", data=body,
                                         headers={"Content-Type": "application/json"})
        runs = json.load(urllib.request.urlopen(request))["runs"]
        assert len(runs) == 2
        for run in runs:
            params = {p["key"]: p["value"] for p in run["data"]["params"]}
            metrics = {m["key"] for m in run["data"]["metrics"]}
            assert params["layer"] == "conv_pw_13_relu" and params["units"] in ("16", "32")
            assert {"macro_f1", "val_macro_f1", "accuracy"} <= metrics
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
