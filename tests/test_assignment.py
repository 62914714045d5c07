"""The NumPy Hungarian method (proxysort.assignment) finds scipy's optimum on every shape."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa

from proxysort.assignment import linear_sum_assignment


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (3, 3), (4, 9), (9, 4), (12, 12), (20, 33), (0, 3)])
@pytest.mark.parametrize("maximize", [False, True])
def test_same_optimum_as_scipy(shape, maximize) -> None:
    rng = np.random.default_rng(sum(shape) + maximize)
    for _ in range(20):
        cost = rng.standard_normal(shape).astype(np.float32)
        rows, cols = linear_sum_assignment(cost, maximize=maximize)
        want_rows, want_cols = scipy_lsa(cost, maximize=maximize)
        assert np.array_equal(rows, want_rows)
        assert len(set(cols.tolist())) == len(cols) == min(shape)
        assert cost[rows, cols].sum() == pytest.approx(cost[want_rows, want_cols].sum(), abs=1e-5)
        assert np.array_equal(cols, want_cols)  # continuous costs: the optimum is unique


def test_integer_ties_still_give_an_optimum() -> None:
    cost = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    rows, cols = linear_sum_assignment(cost)
    assert cost[rows, cols].sum() == 5 and sorted(cols.tolist()) == [0, 1, 2]


def test_refuses_what_is_not_a_finite_matrix() -> None:
    with pytest.raises(ValueError):
        linear_sum_assignment(np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        linear_sum_assignment(np.array([[np.nan, 1.0]]))
