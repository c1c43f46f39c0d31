"""The benchmark script runs end to end on a few dev captions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "extract_factual.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("extract_factual", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_scores_and_ratio(bench, capsys):
    assert bench.main(["--limit", "30", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "relsafe.oro: 30 captions" in out and "SceneGraphParser: 30 captions" in out
    assert "triple P" in out and "pair   P" in out and "throughput ratio" in out


def test_benchmark_bad_column(bench, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("text\na dog\n")
    with pytest.raises(SystemExit, match="c.csv.*'caption'"):
        bench.main(["--corpus", str(path), "--no-peer"])
