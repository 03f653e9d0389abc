"""dvc.yaml's deps follow the code: every kombat file a stage imports, at any depth, is a dep of that
stage, so editing it re-runs what it feeds (and `dvc repro` never calls stale outputs up to date)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    """The file of module `kombat.x.y` (a package's __init__.py), or None if it is no module."""
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path) -> set[str]:
    """Every kombat module `path` imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("kombat.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kombat":
            for alias in node.names:  # `from kombat import schema` names a module; `from kombat.x import f` does not
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if module_file(submodule) else node.module)
    return found - {"kombat"}


def import_closure(path: Path) -> set[Path]:
    """The files `path` needs: itself, what it imports, and so on; a package that loads its modules
    by name (heads/, synth/) counts whole."""
    seen, todo = set(), [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.name == "__init__.py":
            todo += [p for p in current.parent.rglob("*.py") if "__pycache__" not in p.parts]
        for name in imported_modules(current):
            target = module_file(name)
            assert target, f"{current}: imports {name}, which is not a kombat module"
            todo.append(target)
    return seen


def stage_module(cmd: str) -> Path:
    name = next(word for word in cmd.split() if word.startswith("kombat.stages."))
    return module_file(name)


def missing_deps(stage: dict) -> list[str]:
    deps = [ROOT / d for d in stage.get("deps", []) if "${" not in d]
    needed = import_closure(stage_module(stage["cmd"]))
    return sorted(str(f.relative_to(ROOT)) for f in needed
                  if not any(f == d or d in f.parents for d in deps))


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_imported_file_is_a_dep_of_its_stage(name):
    assert missing_deps(STAGES[name]) == [], f"add these to the deps of stage {name!r} in dvc.yaml"


def test_the_check_catches_a_missing_dep():
    evaluate = dict(STAGES["evaluate"])
    evaluate["deps"] = [d for d in evaluate["deps"] if d != "src/kombat/metrics.py"]
    assert missing_deps(evaluate) == ["src/kombat/metrics.py"]


def test_closure_reads_imports_inside_functions(tmp_path):
    assert module_file("kombat.training") in import_closure(module_file("kombat.stages.train"))
    assert module_file("kombat.heads.dense") in import_closure(module_file("kombat.training"))  # loaded by name


def test_the_files_copied_into_the_package_are_its_deps():
    from kombat.stages.package import PLAYER_FILES

    assert {f"src/kombat/{name}" for name in PLAYER_FILES} <= set(STAGES["package"]["deps"])


def test_a_sweep_refuses_the_keys_of_every_stage_that_makes_the_embeddings():
    from kombat.sweep import SWEEPABLE, upstream_keys

    making = ("synth", "extract", "balance", "augment", "embed")
    assert sorted(upstream_keys(ROOT)) == sorted(k for name in making for k in STAGES[name].get("params", [])
                                                 if k not in SWEEPABLE)
    assert set(SWEEPABLE) <= set(STAGES["embed"]["params"])  # what to embed: the embeddings on disk say the rest
    assert not {"head", "train", "embed.layer", "embed.input"} & set(upstream_keys(ROOT))  # what a sweep varies
