"""The embed stage on the shared small project: LiteRT checked against Keras, the same bytes from
any engine and shard size, and a refusal that writes nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from ..conftest import project_env

pytestmark = pytest.mark.slow  # end to end: a pipeline in a fresh copy (make test-all, CI)


def embed(project: Path, out: str, **embed_params) -> subprocess.CompletedProcess:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["embed"].update(embed_params)
    (project / f"{out}.params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return subprocess.run(["python", "-m", "kombat.stages.embed", "--params", f"{out}.params.yaml", "--augmented-dir",
                           "data/augmented", "--out-dir", out], cwd=project, env=project_env(), capture_output=True,
                          text=True, timeout=600)


def tree_digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_litert_embeddings_are_checked_against_keras_and_close_to_them(built_project):
    project = built_project.path
    out = embed(project, "emb_keras", runtime="keras")
    assert out.returncode == 0, out.stderr[-2000:]
    litert, keras = project / "data/embeddings", project / "emb_keras"
    assert json.loads((litert / "meta.json").read_text())["runtime"] == "litert"
    for kind in ("motion", "flow"):
        for layer in ("conv_pw_13_relu", "conv_pw_11_relu"):
            a, b = np.load(litert / kind / f"{layer}.npy"), np.load(keras / kind / f"{layer}.npy")
            assert a.shape == b.shape and a.dtype == np.float32
            assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()  # what the stage's own check allows


def test_the_check_images_are_kept_with_the_rows_they_are(built_project):
    from kombat.data import clip_starts, previous_rows
    from kombat.features import read_input
    from kombat.storage import IMAGES_FILE, NpyRows, read_manifest

    project = built_project.path
    embeddings, params = project / "data/embeddings", yaml.safe_load((project / "params.yaml").read_text())["embed"]
    check = json.loads((embeddings / "meta.json").read_text())["check"]
    images = np.load(embeddings / "check_images.npy")
    assert check["inputs"] == ["motion", "flow"] and len(check["rows"]) == params["check_frames"]
    previous = previous_rows(clip_starts(read_manifest(project / "data/augmented")), params["motion_gap"])
    frames = NpyRows(project / "data/augmented" / IMAGES_FILE)
    gains = {"motion": params["motion_gain"], "flow": params["flow_gain"]}
    expected = np.concatenate([read_input(frames, np.array(check["rows"]), kind, previous, gains[kind])
                               for kind in check["inputs"]])
    assert images.dtype == np.uint8 and np.array_equal(images, expected)


def test_an_int8_stage_and_the_package_calibrate_alike(built_project):
    """The package's int8 embedder, calibrated on the images the stage kept, gives the stage's int8 embeddings."""
    from kombat import schema
    from kombat.export import embedder_model
    from kombat.stages.package import embedder_as_embedded, read_check

    project = built_project.path
    out = embed(project, "emb_int8", precision="int8", min_cosine=-1.0)  # the Keras check is not what this tests
    assert out.returncode == 0, out.stderr[-2000:]
    cfg = schema.load(project / "emb_int8.params.yaml")
    images, stored, precision = read_check(project / "emb_int8", cfg.embed.layer)
    assert precision == "int8" and len(images) == 2 * cfg.embed.check_frames  # motion's and flow's
    _, found = embedder_as_embedded(embedder_model(cfg, images.shape[1:]), images, stored, precision,
                                    cfg.embed.tolerance, project / "emb_int8")  # refuses unless it reproduces them
    assert f"on its {len(images)} check images" in found


def test_ray_engine_and_another_shard_size_give_the_same_bytes(built_project):
    project = built_project.path
    out = embed(project, "emb_ray", engine="ray", shard_frames=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(ray)" in out.stdout
    assert tree_digests(project / "emb_ray") == tree_digests(project / "data/embeddings")


@pytest.mark.parametrize("params, refusal", [({"precision": "float32", "tolerance": 1e-12},
                                               "LiteRT embeddings differ from Keras by "),
                                              ({"precision": "int8", "min_cosine": 0.999},
                                               "int8 embeddings are too far from Keras (min cosine ")])
def test_embeddings_too_far_from_keras_are_refused_and_nothing_is_written(built_project, params, refusal):
    project = built_project.path
    before = tree_digests(project / "data/embeddings")
    subprocess.run(["rm", "-rf", "emb_refused"], cwd=project, check=True)
    subprocess.run(["cp", "-r", "data/embeddings", "emb_refused"], cwd=project, check=True)
    out = embed(project, "emb_refused", **params)
    last = out.stderr.strip().splitlines()[-1]  # above it, TensorFlow's own start-up lines
    assert out.returncode == 2 and last.startswith(f"kombat embed: error: emb_refused: {refusal}"), out.stderr[-2000:]
    assert tree_digests(project / "emb_refused") == before  # the earlier embeddings, untouched


@pytest.mark.parametrize("key, value, message", [("precision", "int4", "embed.precision 'int4' is not one of"),
                                                 ("engine", "spark", "embed.engine 'spark' is not one of")])
def test_unknown_choices_are_named(built_project, key, value, message):
    out = embed(built_project.path, "emb_bad", **{key: value})
    assert out.returncode == 2 and message in out.stderr
