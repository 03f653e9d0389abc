"""docs/performance.md's table is the one bench/run.py renders from bench/results.json."""

from __future__ import annotations

import importlib.util
import json
import re

from .conftest import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_targets_are_judged_in_the_output():
    bench = load_bench()
    assert bench.figure("x", 24.9, "ms", target="<= 25")["met"] is True
    assert bench.figure("x", 25.1, "ms", target="<= 25")["met"] is False
    assert bench.figure("x", 0.79, "ratio", target=">= 0.8")["met"] is False
    assert bench.figure("x", 3.0, "s")["met"] is None


def test_performance_page_table_matches_results_json():
    bench = load_bench()
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    assert bench.table(results) in (ROOT / "docs" / "performance.md").read_text()
    assert {f["name"] for f in results["figures"]} >= {"play TFLite p95", "no-op dvc repro", "embed stage / nominal float32 bound",
                                                      "embed peak memory, 4x data"}


def test_a_partial_run_replaces_its_own_figures_and_dates_them():
    bench = load_bench()
    old = {"machine": {"cores": 2, "cpu": "A", "python": "3", "tensorflow-cpu": "2", "keras": "3", "mlflow": "3",
                       "dvc": "3"}, "when": "2026-11-25 10:48",
           "figures": [bench.figure("make demo after setup", 182.0, "s"), bench.figure("no-op dvc repro", 0.7, "s")]}
    new = bench.merged(old, [bench.figure("make demo after setup", 390.0, "s", target="<= 300"),
                             bench.figure("make demo: stage embed", 139.0, "s")], "2026-12-04 01:00", "B")
    assert [f["name"] for f in new["figures"]] == ["make demo after setup", "no-op dvc repro", "make demo: stage embed"]
    demo, noop, _ = new["figures"]
    assert demo["value"] == 390.0 and demo["met"] is False and demo["when"] == "2026-12-04 01:00" and demo["cpu"] == "B"
    assert noop == old["figures"][1] and "when" not in noop  # measured with the rest, on the header's date
    rows = bench.table(new).splitlines()
    assert rows[-3].endswith("| **missed** | 2026-12-04 01:00, B |") and rows[-2].endswith("|  |  |")


def test_the_setup_row_names_the_installer_that_ran(tmp_path):
    bench = load_bench()
    fake_uv = tmp_path / "uv"
    fake_uv.write_text("#!/bin/sh\n")
    fake_uv.chmod(0o755)
    env = {"PATH": str(tmp_path)}
    # What `make setup` prints when uv works: its uv recipe (make echoes it), whose fallback holds the note's words.
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("ifeq ($(INSTALLER),uv)"):].split("\nelse\n")[0]
    assert "uv could not install" in recipe
    assert bench.installer_used(recipe, env) == "uv"
    note = re.search(r'echo "(note: uv could not install[^"]*)"', recipe).group(1)  # the line make's shell prints
    assert bench.installer_used(f"{recipe}\n{note}\n", env) == "pip (uv failed)"
    assert bench.installer_used(recipe, {"PATH": str(tmp_path / "nothing")}) == "pip"
    assert bench.installer_used("", {**env, "INSTALLER": "pip"}) == "pip"


def test_a_row_names_the_cpus_widest_vectors():
    bench = load_bench()
    cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma{}\n"
    assert bench.widest_vectors(cpuinfo.format(" avx512f avx512bw")) == "AVX-512"
    assert bench.widest_vectors(cpuinfo.format("")) == "AVX2"
    assert bench.widest_vectors(cpuinfo.replace("avx2 ", "").format("")) == ""
    assert bench.widest_vectors("model name: x\n") == ""
    # AVX-512 is its foundation (avx512f), not any avx512 extension; and only the flags line counts.
    assert bench.widest_vectors(cpuinfo.format(" avx512bw").replace("avx2 ", "")) == ""
    assert bench.widest_vectors("model name\t: avx512f avx2\nflags\t\t: fpu sse2\n") == ""
