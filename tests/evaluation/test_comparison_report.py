"""Comparison table, charts and the HTML report."""

import math

import pandas as pd
from matplotlib.figure import Figure

from relsafe.evaluation.comparison import (
    clean_metrics,
    comparison_table,
    metric_goal,
    split_variants,
)
from relsafe.evaluation.plots import drift_histograms, examples_table, per_rule_bars
from relsafe.evaluation.report import build_report, write_text_atomic

METRICS = {
    "unsafe_r5": 0.1,
    "base_unsafe_r5": 0.9,
    "baseline_unsafe_r5": 0.05,
    "benign_r1": 0.95,
    "base_benign_r1": 1.0,
    "baseline_benign_r1": 0.6,
    "benign_r1_ratio": 0.95,
    "baseline_benign_r1_ratio": 0.6,
    "benign_drift": 0.01,
    "baseline_benign_drift": 0.2,
    "base_benign_drift": 0.0,
    "n_eval": 10,
    "base_n_eval": 10,
    "baseline_n_eval": 10,
}


def test_goals():
    assert (
        metric_goal("unsafe_r5") == "lower"
        and metric_goal("rule_minor_alcohol_unsafe_r5") == "lower"
    )
    assert (
        metric_goal("benign_r1") == "higher" and metric_goal("neighbour_same_object_r1") == "higher"
    )
    assert (
        metric_goal("asr_heldout_roleplay") == "lower" and metric_goal("refusal_benign") == "lower"
    )
    assert metric_goal("marginal_drift") == "lower" and metric_goal("n_eval") == ""


def test_comparison_table_deltas_and_better():
    table = comparison_table(METRICS).set_index("metric")
    assert list(table.index[:3]) == ["unsafe_r5", "benign_r1", "benign_r1_ratio"]
    row = table.loc["unsafe_r5"]
    assert math.isclose(row["edit_delta"], -0.8) and math.isclose(row["baseline_delta"], -0.85)
    assert row["better"] == "baseline"
    assert table.loc["benign_r1", "better"] == "edit"
    assert table.loc["benign_r1_ratio", "base"] == 1.0
    assert split_variants(METRICS)["baseline"]["unsafe_r5"] == 0.05


def test_clean_metrics_drops_nan_and_rejects_at():
    assert clean_metrics({"b": 1, "a": float("nan")}) == {"b": 1.0}
    try:
        clean_metrics({"unsafe_r@5": 1.0})
    except ValueError as exc:
        assert "@" in str(exc)
    else:
        raise AssertionError("'@' accepted")


def _tables():
    per_rule = pd.DataFrame(
        {
            "rule_id": ["a", "a", "a"],
            "variant": ["base", "edit", "baseline"],
            "suppression": [0.0, 0.8, 0.85],
            "collateral": [0.0, 0.05, 0.4],
        }
    )
    drift = pd.DataFrame(
        {
            "text": list("abcd"),
            "group": ["benign", "unsafe", "marginal", "benign"],
            "rule_id": "a",
            "variant": ["edit", "edit", "edit", "baseline"],
            "drift": [0.01, 0.5, 0.02, 0.3],
        }
    )
    examples = pd.DataFrame(
        {
            "rule_id": ["a"],
            "label": ["unsafe"],
            "query": ["a child drinking wine <b>"],
            "base_top1": ["a child drinking wine"],
            "base_hit": [True],
            "edit_top1": ["a child drinking juice"],
            "edit_hit": [False],
        }
    )
    return per_rule, drift, examples


def test_charts_are_figures_even_when_empty():
    per_rule, drift, examples = _tables()
    for fig in (
        per_rule_bars(per_rule),
        drift_histograms(drift),
        examples_table(examples),
        per_rule_bars(pd.DataFrame()),
        drift_histograms(pd.DataFrame()),
        examples_table(pd.DataFrame()),
    ):
        assert isinstance(fig, Figure)


def test_report_contains_table_summary_and_links(tmp_path):
    per_rule, _, examples = _tables()
    html = build_report(
        METRICS,
        comparison_table(METRICS),
        per_rule,
        examples,
        images={"Per rule": "per_rule.png"},
        meta={"run": "x"},
    )
    assert "<table>" in html and "unsafe_r5" in html and "baseline_delta" in html
    assert 'src="per_rule.png"' in html
    assert "Unsafe paired retrieval R@5" in html and "90.0%" in html and "10.0%" in html
    assert "&lt;b&gt;" in html  # example text is escaped
    path = tmp_path / "out" / "report.html"
    write_text_atomic(path, html)
    assert path.read_text() == html and not list(path.parent.glob(".report.html.*"))


LM_METRICS = {
    "asr_formats": 0.25,
    "asr_formats_lo": 0.15,
    "asr_formats_hi": 0.35,
    "base_asr_formats": 1.0,
    "base_asr_formats_lo": 1.0,
    "base_asr_formats_hi": 1.0,
    "n_formats": 80.0,
    "refusal_alarming": 0.1,
    "refusal_alarming_lo": 0.05,
    "refusal_alarming_hi": 0.16,
    "base_refusal_alarming": 0.0,
    "refusal_alarming_figurative": 0.3,
    "degenerate_alarming": 0.02,
    "base_degenerate_alarming": 0.0,
}


def test_lm_goals_intervals_and_degenerate():
    assert metric_goal("asr_formats_lo") == "" and metric_goal("refusal_alarming_hi") == ""
    assert metric_goal("degenerate_alarming") == "lower" and metric_goal("empty_benign") == "lower"
    assert metric_goal("refusal_alarming_figurative") == "lower"


def test_no_baseline_no_baseline_columns_or_report_text():
    table = comparison_table(LM_METRICS)
    assert list(table.columns) == ["metric", "goal", "base", "edit", "edit_delta"]
    assert list(table["metric"][:2]) == ["asr_formats", "refusal_alarming"]  # headline order
    html = build_report(LM_METRICS, table, pd.DataFrame(), pd.DataFrame())
    assert "concept-erasure baseline" not in html.replace("baseline was not trained", "")
    assert "<th>baseline</th>" not in html and "was not trained for this run" in html
    assert "edit <b>25.0%</b> [15.0%, 35.0%]" in html and "n=80" in html
    assert "figurative 30.0%" in html
    with_bl = comparison_table({**LM_METRICS, "baseline_asr_formats": 0.5})
    assert {"baseline", "baseline_delta", "better"} <= set(with_bl.columns)
