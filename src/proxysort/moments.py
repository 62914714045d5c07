"""Count, mean and variance of rows seen a block at a time: the statistics of an archive's N×K arrays
without an N-row temporary (issue 25, item 5).

Why a class and not ``x.mean(0)``: at 10M photos each N×K float32 temporary of a whole-array statistic
(a centred copy, its square) is 320 MB, and the sort's peak is set by such moments. Of a single block
:class:`Moments` gives NumPy's own ``mean(0)`` and ``var(0)``, bit for bit, so callers that feed it blocks of
at least as many rows as the quality grid and the tests have photos (65,536) change no figure there; of
several blocks it combines the blocks' moments in float64 (Chan et al.'s pairwise update), to float rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Moments:
    """Count, mean and (population) variance along the first axis of the values :meth:`add`-ed."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, Any, Any]] = []

    def add(self, values: np.ndarray) -> None:
        if len(values):
            self.parts.append((len(values), values.mean(0), values.var(0)))

    @property
    def n(self) -> int:
        return sum(p[0] for p in self.parts)

    def moments(self) -> tuple[Any, Any]:
        """(mean, variance): a single block's own; nan for no values."""
        if len(self.parts) == 1:
            return self.parts[0][1], self.parts[0][2]
        n = self.n
        if n == 0:
            return np.nan, np.nan
        mean = sum(c * np.asarray(m, np.float64) for c, m, _ in self.parts) / n
        var = sum(c * (np.asarray(v, np.float64) + (np.asarray(m, np.float64) - mean) ** 2) for c, m, v in self.parts)
        return mean, var / n
