"""Bootstrapped confidence intervals for rates measured on small eval sets."""

from __future__ import annotations

import numpy as np


def bootstrap_interval(
    values: np.ndarray, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN, NaN when empty).

    Seeded, so the same rows give the same interval on every run.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def add_intervals(
    metrics: dict[str, float], samples: dict[str, np.ndarray], n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """``<name>_lo`` / ``<name>_hi`` for every named per-item sample (0/1 hits, scores)."""
    out = dict(metrics)
    for name, values in samples.items():
        out[f"{name}_lo"], out[f"{name}_hi"] = bootstrap_interval(values, n_boot, seed=seed)
    return out
