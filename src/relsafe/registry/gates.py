"""Promotion gates: absolute thresholds and no-regression against the champion (pure functions).

Config (one block per family in ``conf/base/parameters_promote.yml``), keyed by metric name
so metrics can be renamed or added without code::

    absolute:
      unsafe_r5: {max: 0.20}          # value <= max
      benign_r1: {min: 0.80}          # value >= min
    no_regression:
      unsafe_r5: {better: lower, tolerance: 0.02}   # challenger <= champion + tolerance
      benign_r1: {better: higher, tolerance: 0.02}  # challenger >= champion - tolerance
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, with a sentence saying why."""

    gate: str
    metric: str
    passed: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def _value(metrics: dict | None, key: str) -> float | None:
    if not metrics or key not in metrics:
        return None
    try:
        value = float(metrics[key])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def absolute_gates(metrics: dict, config: dict, who: str = "challenger") -> list[GateResult]:
    """``{metric: {min: x, max: y}}`` thresholds; a missing metric fails its gate."""
    results = []
    for metric, bounds in (config or {}).items():
        bounds = bounds or {}
        unknown = set(bounds) - {"min", "max"}
        if unknown or not bounds:
            raise ValueError(
                f"promote gates absolute.{metric}: expected min and/or max, got {sorted(bounds) or 'nothing'}"
            )
        value = _value(metrics, metric)
        for kind in ("min", "max"):
            if kind not in bounds:
                continue
            limit = float(bounds[kind])
            gate = f"absolute:{metric}{'>=' if kind == 'min' else '<='}{limit:g}"
            if value is None:
                results.append(GateResult(gate, metric, False, f"{who} has no metric {metric!r}"))
                continue
            ok = value >= limit if kind == "min" else value <= limit
            op = ">=" if kind == "min" else "<="
            verdict = "pass" if ok else "FAIL"
            results.append(
                GateResult(
                    gate,
                    metric,
                    ok,
                    f"{metric} = {value:.4f} {op if ok else 'not ' + op} {kind} {limit:g}: {verdict}",
                )
            )
    return results


def no_regression_gates(
    challenger: dict,
    champion: dict | None,
    config: dict,
    champion_label: str = "champion",
    missing_champion_metric: str = "fail",
    incomparable: str | None = None,
) -> list[GateResult]:
    """Challenger vs champion per metric; passes (saying so) when there is no champion yet.

    ``incomparable`` (why the two were not scored alike: another eval set or policy) fails
    every gate with that reason instead of comparing numbers that mean different things.
    """
    results = []
    for metric, rule in (config or {}).items():
        rule = rule or {}
        better = rule.get("better")
        if better not in ("higher", "lower"):
            raise ValueError(
                f"promote gates no_regression.{metric}.better: expected 'higher' or 'lower', got {better!r}"
            )
        tol = float(rule.get("tolerance", 0.0))
        gate = f"no_regression:{metric}({better} is better, tol {tol:g})"
        new = _value(challenger, metric)
        if champion is None:
            results.append(
                GateResult(gate, metric, True, f"no {champion_label} yet: nothing to regress from")
            )
            continue
        if incomparable:
            results.append(
                GateResult(
                    gate,
                    metric,
                    False,
                    f"{metric}: not comparable with {champion_label} ({incomparable}): FAIL; "
                    "re-evaluate both on the same eval set and policy",
                )
            )
            continue
        old = _value(champion, metric)
        if new is None:
            results.append(GateResult(gate, metric, False, f"challenger has no metric {metric!r}"))
            continue
        if old is None:
            ok = missing_champion_metric == "pass"
            results.append(
                GateResult(
                    gate,
                    metric,
                    ok,
                    f"{champion_label} has no metric {metric!r}: {'pass' if ok else 'FAIL'} (promote.missing_champion_metric: {missing_champion_metric})",
                )
            )
            continue
        ok = new <= old + tol if better == "lower" else new >= old - tol
        delta = new - old
        verdict = "pass" if ok else "FAIL (regression)"
        results.append(
            GateResult(
                gate,
                metric,
                ok,
                f"{metric} = {new:.4f} vs {champion_label} {old:.4f} (delta {delta:+.4f}, tol {tol:g}): {verdict}",
            )
        )
    return results


def evaluate_gates(
    challenger: dict,
    champion: dict | None,
    config: dict,
    champion_label: str = "champion",
    missing_champion_metric: str = "fail",
    incomparable: str | None = None,
) -> list[GateResult]:
    """All gates in ``config`` (``absolute`` then ``no_regression``); unknown keys are an error."""
    unknown = set(config or {}) - {"absolute", "no_regression"}
    if unknown:
        raise ValueError(
            f"promote gates: unknown sections {sorted(unknown)}; expected absolute / no_regression"
        )
    if missing_champion_metric not in ("fail", "pass"):
        raise ValueError(
            f"promote.missing_champion_metric {missing_champion_metric!r}: expected 'fail' or 'pass'"
        )
    return absolute_gates(challenger, (config or {}).get("absolute", {})) + no_regression_gates(
        challenger,
        champion,
        (config or {}).get("no_regression", {}),
        champion_label,
        missing_champion_metric,
        incomparable,
    )
