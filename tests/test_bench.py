"""docs/performance.md's table is the one bench/run.py renders from bench/results.json."""

from __future__ import annotations

import importlib.util
import json

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
