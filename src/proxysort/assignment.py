"""The linear assignment problem (the Hungarian method) in NumPy, for naming groups.

Why not ``scipy.optimize.linear_sum_assignment``: importing ``scipy.optimize`` costs ~0.5 s (it pulls in
scipy.linalg, scipy.special and their docstring machinery), a third of a cached ``cluster`` re-run
(benchmarks/results/cached-rerun.md), to solve a k × words matrix of a few dozen cells. This is the
shortest-augmenting-path form of the Hungarian method (Jonker-Volgenant potentials), exact, O(n²m) for an
n × m matrix; it gives the optimum scipy gives (``tests/test_assignment.py`` compares them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def linear_sum_assignment(cost: "np.ndarray", maximize: bool = False) -> tuple["np.ndarray", "np.ndarray"]:
    """(rows, cols) of an assignment of min(n, m) rows to distinct columns with the least total ``cost``
    (the greatest with ``maximize``), rows ascending: the signature and result of scipy's function."""
    import numpy as np

    a = np.asarray(cost, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError("the cost matrix must be two-dimensional")
    if not np.isfinite(a).all():
        raise ValueError("the cost matrix holds a value that is not finite")
    if maximize:
        a = -a
    transposed = a.shape[0] > a.shape[1]
    if transposed:
        a = a.T
    rows, cols = _solve(a)
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows, kind="stable")
    return rows[order], cols[order]


def _solve(a: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """Rows → columns of an n × m cost matrix with n ≤ m: each row in turn joins along the shortest
    augmenting path under the dual potentials ``u`` (rows) and ``v`` (columns); column 0 is a sentinel."""
    import numpy as np

    n, m = a.shape
    if n == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.intp)  # owner[j]: the row (1-based) assigned to column j, 0 for none
    way = np.zeros(m + 1, dtype=np.intp)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = ~used[1:]
            cur = a[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.flatnonzero(owner[1:])
    return owner[1:][cols] - 1, cols
