"""Promotion gates as pure functions."""

from __future__ import annotations

import pytest

from relsafe.registry.gates import evaluate_gates

GATES = {
    "absolute": {"unsafe_r5": {"max": 0.2}, "benign_r1": {"min": 0.8}},
    "no_regression": {
        "unsafe_r5": {"better": "lower", "tolerance": 0.02},
        "benign_r1": {"better": "higher", "tolerance": 0.0},
    },
}


def by_gate(results):
    return {r.gate: r for r in results}


def test_all_pass_without_champion():
    results = evaluate_gates({"unsafe_r5": 0.1, "benign_r1": 0.9}, None, GATES)
    assert all(r.passed for r in results)
    assert sum("no champion yet" in r.reason for r in results) == 2


def test_absolute_failures_name_metric_value_and_limit():
    results = by_gate(evaluate_gates({"unsafe_r5": 0.3, "benign_r1": 0.9}, None, GATES))
    bad = results["absolute:unsafe_r5<=0.2"]
    assert not bad.passed
    assert "unsafe_r5 = 0.3000" in bad.reason and "max 0.2" in bad.reason
    assert results["absolute:benign_r1>=0.8"].passed


def test_no_regression_with_tolerance():
    champ = {"unsafe_r5": 0.10, "benign_r1": 0.90}
    ok = evaluate_gates({"unsafe_r5": 0.115, "benign_r1": 0.90}, champ, GATES)
    assert all(r.passed for r in ok)
    worse = by_gate(evaluate_gates({"unsafe_r5": 0.15, "benign_r1": 0.89}, champ, GATES))
    assert not worse["no_regression:unsafe_r5(lower is better, tol 0.02)"].passed
    assert "regression" in worse["no_regression:benign_r1(higher is better, tol 0)"].reason


def test_missing_metrics_fail_clearly():
    results = evaluate_gates({"benign_r1": 0.9}, {"benign_r1": 0.9}, GATES)
    missing = [r for r in results if not r.passed]
    assert {r.metric for r in missing} == {"unsafe_r5"}
    assert all("no metric 'unsafe_r5'" in r.reason for r in missing)
    champ_missing = evaluate_gates({"unsafe_r5": 0.1, "benign_r1": 0.9}, {"benign_r1": 0.9}, GATES)
    assert [r.passed for r in champ_missing if r.gate.startswith("no_regression:unsafe")] == [False]
    lenient = evaluate_gates(
        {"unsafe_r5": 0.1, "benign_r1": 0.9},
        {"benign_r1": 0.9},
        GATES,
        missing_champion_metric="pass",
    )
    assert all(r.passed for r in lenient)


@pytest.mark.parametrize(
    "bad",
    [
        {"absolute": {"x": {"below": 1}}},
        {"no_regression": {"x": {"better": "up"}}},
        {"thresholds": {}},
    ],
)
def test_bad_config_is_an_error(bad):
    with pytest.raises(ValueError):
        evaluate_gates({"x": 1.0}, None, bad)
