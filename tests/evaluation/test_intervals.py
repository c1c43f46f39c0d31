import numpy as np

from relsafe.evaluation.intervals import add_intervals, bootstrap_interval


def test_interval_brackets_the_mean_and_narrows_with_more_items():
    small = np.array([1.0] * 3 + [0.0] * 7)
    lo, hi = bootstrap_interval(small)
    assert lo <= 0.3 <= hi and hi - lo > 0.3
    big = np.tile(small, 50)
    lo2, hi2 = bootstrap_interval(big)
    assert lo2 <= 0.3 <= hi2 and hi2 - lo2 < 0.15
    assert bootstrap_interval(small) == (lo, hi)  # seeded: the same rows, the same interval


def test_constant_and_empty_samples():
    assert bootstrap_interval(np.zeros(5)) == (0.0, 0.0)
    assert all(np.isnan(bootstrap_interval(np.array([]))))
    m = add_intervals({"x": 0.5}, {"x": np.array([0.0, 1.0])})
    assert set(m) == {"x", "x_lo", "x_hi"}
