"""The walkthrough notebook's code cells run against a run's outputs (no Jupyter needed)."""

import json

import pytest
from tests_support import PROJECT_ROOT

from relsafe.evaluation.comparison import comparison_table
from relsafe.evaluation.plots import drift_histograms, examples_table, per_rule_bars

pytestmark = pytest.mark.slow


def test_notebook_cells_run(tmp_path, monkeypatch):
    import pandas as pd

    metrics = {
        "unsafe_r5": 0.1,
        "base_unsafe_r5": 0.9,
        "baseline_unsafe_r5": 0.0,
        "benign_r1": 0.9,
        "base_benign_r1": 1.0,
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    comparison_table(metrics).to_csv(tmp_path / "comparison.csv", index=False)
    per_rule = pd.DataFrame(
        {
            "rule_id": ["a", "a"],
            "variant": ["base", "edit"],
            "suppression": [0, 0.8],
            "collateral": [0, 0.1],
        }
    )
    drift = pd.DataFrame(
        {"text": ["x"], "group": ["benign"], "rule_id": ["a"], "variant": ["edit"], "drift": [0.01]}
    )
    examples = pd.DataFrame({"query": ["q"], "base_top1": ["q"], "edit_top1": ["r"]})
    rows = pd.DataFrame(
        {"text": ["x"], "label": ["benign"], "attack": ["paraphrase"], "edit_r5": [1.0]}
    )
    for name, frame, fig in (
        ("per_rule", per_rule, per_rule_bars),
        ("drift", drift, drift_histograms),
        ("examples", examples, examples_table),
    ):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        fig(frame).savefig(tmp_path / f"{name}.png")
    rows.to_csv(tmp_path / "eval_rows.csv", index=False)
    (tmp_path / "report.html").write_text("<html></html>")
    monkeypatch.setenv("RELSAFE_REPORTING_DIR", str(tmp_path))
    monkeypatch.chdir(PROJECT_ROOT / "notebooks")
    nb = json.loads((PROJECT_ROOT / "notebooks/walkthrough.ipynb").read_text())
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "walkthrough.ipynb", "exec"), namespace)  # noqa: S102
    assert namespace["family"] == "encoder" and len(namespace["headline"]) == 2
