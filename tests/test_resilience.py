"""Interrupted stages lose nothing: SIGINT and SIGKILL half way, outputs intact, MLflow runs closed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from kombat.storage import atomic_dir

from .conftest import project_env, repro

pytestmark = pytest.mark.slow  # end to end: a pipeline in a fresh copy (make test-all, CI)

EMBED = ["python", "-m", "kombat.stages.embed", "--augmented-dir", "data/augmented", "--out-dir", "data/embeddings"]
TRAIN = ["python", "-m", "kombat.stages.train", "--embeddings-dir", "data/embeddings", "--model-dir", "models",
         "--metrics-dir", "metrics"]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def start(project: Path, command: list[str]) -> subprocess.Popen:
    """The command in a session of its own, with Ctrl-C's default meaning: a shell that started the
    test run in the background hands its children SIGINT ignored, and Python then never raises
    KeyboardInterrupt (these tests would see a stage run to its end)."""
    env = {**project_env(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(process: subprocess.Popen, pattern: str, timeout: float = 120) -> str:
    """Read the process's output until `pattern` matches (tqdm writes \\r, so read characters)."""
    seen, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        char = process.stdout.read(1)
        if not char:
            break
        seen += char
        if re.search(pattern, seen[-400:]):
            return seen
    raise AssertionError(f"never saw {pattern!r}; output: {seen[-1000:]}")


def mlflow_client(project: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


@pytest.fixture
def consistent(built_project) -> Path:
    """The shared project with every stage up to date (earlier tests change its params)."""
    repro(built_project.path)
    return built_project.path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_embed_killed_half_way_keeps_the_previous_embeddings(consistent, sig):
    before = digests(consistent / "data/embeddings")
    process = start(consistent, EMBED)
    wait_for(process, r"embed \w+:\s+\d+%.*\| ([1-9]\d{2,}|[6-9]\d)/\d+")  # at least 60 frames embedded
    os.killpg(process.pid, sig)
    rc = process.wait(timeout=60)
    rest = process.stdout.read()
    assert digests(consistent / "data/embeddings") == before
    stale = list((consistent / "data").glob(".embeddings.tmp-*"))
    if sig == signal.SIGINT:
        assert rc == 130 and "interrupted; earlier outputs are untouched" in rest and stale == []
    else:
        # Nothing in the process could clean up: a temporary folder, if one was open, stays until the
        # stage's next write removes it (test_atomic_dir_removes_a_killed_runs_leftovers).
        assert rc == -signal.SIGKILL and len(stale) <= 1


def test_atomic_dir_removes_a_killed_runs_leftovers(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "good.txt").write_text("earlier")
    (tmp_path / ".out.tmp-deadbeef").mkdir()
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "good.txt").read_text() == "earlier"


def test_train_interrupted_ends_its_mlflow_run_and_keeps_the_head(consistent):
    before = digests(consistent / "models")
    process = start(consistent, TRAIN)
    wait_for(process, r"Epoch 2/")
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert digests(consistent / "models") == before
    client = mlflow_client(consistent)
    experiment = client.get_experiment_by_name("kombat").experiment_id
    newest = client.search_runs([experiment], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert newest.info.status == "KILLED"


def test_dvc_repro_killed_in_train_finishes_next_time_and_no_run_stays_running(consistent):
    params = yaml.safe_load((consistent / "params.yaml").read_text())
    params["head"]["units"] = 48
    (consistent / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    process = start(consistent, ["dvc", "repro"])
    wait_for(process, r"Epoch 2/")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    client = mlflow_client(consistent)
    experiment = client.get_experiment_by_name("kombat").experiment_id
    running = client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'")
    assert len(running) == 1  # SIGKILL: nothing in the process could close it

    assert repro(consistent) == ["train", "evaluate", "package"]
    orphan = client.get_run(running[0].info.run_id)
    assert orphan.info.status == "FAILED" and "killed" in orphan.data.tags["kombat.error"]
    assert client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'") == []
    assert json.loads((consistent / "models/run.json").read_text())["run_id"] != orphan.info.run_id


def run_train_with(project: Path, tmp_path: Path, tracking_uri: str, env: dict | None = None):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["mlflow"]["tracking_uri"] = tracking_uri
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return subprocess.run([*TRAIN[:3], "--params", str(tmp_path / "params.yaml"), *TRAIN[3:5], "--model-dir",
                           str(tmp_path / "models"), "--metrics-dir", str(tmp_path / "metrics")], cwd=project,
                          env={**project_env(), **(env or {})}, capture_output=True, text=True, timeout=300)


def test_an_unreachable_mlflow_server_is_one_line(built_project, tmp_path):
    out = run_train_with(built_project.path, tmp_path, "http://127.0.0.1:9",
                         {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and lines[-1].startswith("kombat train: error: MLflow store http://127.0.0.1:9: ")
    assert not (tmp_path / "models").exists()


def test_a_locked_mlflow_store_is_one_line(built_project, tmp_path):
    import sqlite3

    store = tmp_path / "locked.db"
    shutil.copyfile(built_project.path / "mlflow.db", store)
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the database
    try:
        out = run_train_with(built_project.path, tmp_path, f"sqlite:///{store}")
    finally:
        holder.close()
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and lines[-1].startswith(f"kombat train: error: MLflow store sqlite:///{store}: ")
    assert "locked" in lines[-1] and not (tmp_path / "models").exists()
