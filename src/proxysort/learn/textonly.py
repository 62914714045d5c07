"""Results in NumPy: the zero-shot view a method that needs only the candidate prompts' text features
computes, and the features of a method whose learned rows the store keeps, without torch.

Why a second version of :func:`proxysort.learn.core.zero_shot_features`: importing torch and open_clip is
most of a cached re-run's time (benchmarks/results/cached-rerun.md), and a method declared with
:attr:`proxysort.learn.method.Method.from_words` needs nothing of the model but the words' text features
and its logit scale, both kept in the store. The operations are the torch ones, in the same order, so the
two agree to float32 rounding (``tests/test_instant.py``). The methods whose rows the store keeps
(:attr:`proxysort.learn.method.Method.rows`) make their results here on every path (:func:`features`), so
a re-run served from the store gives the first run's bits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def unit_rows(a: "np.ndarray") -> "np.ndarray":
    """float32 rows scaled to unit length, as ``torch.nn.functional.normalize`` does (norm clamped at 1e-12)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float32)
    # float32 already: astype copies nothing (a copy would be a second N×d matrix at the peak, issue 25)
    return (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.float32(1e-12))).astype(np.float32, copy=False)


def softmax(z: "np.ndarray") -> "np.ndarray":
    """Row-wise softmax, shifted by the row's maximum as torch does."""
    import numpy as np

    # In place on one new array: the same operations (so the same bits), one N×K temporary rather than three
    e = z - z.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e.astype(np.float32, copy=False)


def scoremix(scores: "np.ndarray", probs: "np.ndarray") -> "np.ndarray":
    """:func:`proxysort.learn.core.scoremix` in NumPy (why it is made so is said there)."""
    import numpy as np

    centred = scores - scores.mean(0, keepdims=True)
    p = probs - probs.mean(0, keepdims=True)
    tiny = np.float32(1e-12)
    p /= np.sqrt(max(p.var(0).sum(), tiny))  # in place: the same division, no second N×K copy of each half
    centred /= np.sqrt(max(centred.var(0).sum(), tiny))
    return np.concatenate([p, centred], axis=1).astype(np.float32, copy=False)


def features(
    h: "np.ndarray",
    x: "np.ndarray",
    T: "np.ndarray",
    fuse_weight: float,
    *,
    w: "np.ndarray | None" = None,
    weights: "np.ndarray | None" = None,
    gate: "np.ndarray | None" = None,
    scale: float | None = None,
) -> dict[str, "np.ndarray"]:
    """The k-means candidates (METHOD §4) of a method that learns on the whole run, as float32 arrays.

    ``x`` is the image side the method ended with (Multi-Sub's mapped images; otherwise the photos' unit
    rows), ``h`` the unit prompt features, ``w`` the proxy rows. ``scores`` is the image's cosine with every
    candidate prompt ``T``: the zero-shot score vector (Multi-Sub: after its image map). ``gate`` (N, in
    [0, 1]) replaces the fixed ``fuse_weight`` in ``fused`` by a per-image weight. With ``scale`` (CLIP's
    logit scale), ``probs`` is CLIP's softmax of ``scores`` and ``scoremix`` is :func:`scoremix` of the two.
    In NumPy on every path, from the numbers the store keeps, so a result rebuilt from the store without the
    model has the learned result's bits.
    """
    import math

    import numpy as np

    h, x = np.asarray(h, dtype=np.float32), np.asarray(x, dtype=np.float32)
    g = np.asarray(gate, dtype=np.float32)[:, None] if gate is not None else np.float32(fuse_weight)
    scores = (x @ np.asarray(T, dtype=np.float32).T).astype(np.float32)
    out = {
        "prompt": h,
        "fused": unit_rows(g * h + (np.float32(1.0) - g) * x),
        "scores": scores,
        "concat": np.concatenate([unit_rows(w) if w is not None else h, x], axis=1) / np.float32(math.sqrt(2.0)),
    }
    if scale is not None:
        out["probs"] = softmax(np.float32(scale) * scores)
        out["scoremix"] = scoremix(scores, out["probs"])
    if w is not None:
        out["proxy"] = w
    if weights is not None:
        out["weights"] = weights
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


#: Photos per block of :class:`ZeroShotView`'s statistics and of the ``scoremix`` it writes: up to this many, the
#: statistics are the whole arrays' own (bit for bit); a block of 65,536 rows of K floats is a few MB.
STAT_ROWS = 65_536


class ZeroShotView(Mapping[str, "np.ndarray"]):
    """``scores``, ``probs`` and ``scoremix`` of the cosines ``Z`` (N×K), as the torch version gives them,
    made on access from ``Z`` alone: a sort holds K numbers per photo for them, not 4K (issue 25). Each
    access computes the same numbers (the same NumPy operations on the same ``Z``)."""

    _NAMES = ("scores", "probs", "scoremix")

    def __init__(self, Z: "np.ndarray", scale: float) -> None:
        import numpy as np

        self.Z, self.scale = np.asarray(Z, dtype=np.float32), scale

    def __getitem__(self, name: str) -> "np.ndarray":
        import numpy as np

        if name == "scores":
            return self.Z
        if name not in self._NAMES:
            raise KeyError(name)
        if name == "probs":
            return softmax(np.float32(self.scale) * self.Z)
        out = np.empty((len(self.Z), 2 * self.Z.shape[1]), np.float32)  # scoremix's bits, without its temporaries
        self.scoremix_into(out, STAT_ROWS)
        return out

    def scoremix_into(self, out: "np.ndarray", size: int) -> None:
        """``self["scoremix"]`` written into ``out`` (N×2K, e.g. the first columns of ``imagemix``) ``size``
        photos at a time (:meth:`scoremix_blocks`), so that no N×2K array is held beside ``out`` (issue 25)."""
        start = 0
        for block in self.scoremix_blocks(size):
            out[start : start + len(block)] = block
            start += len(block)

    def scoremix_blocks(self, size: int) -> "Iterator[np.ndarray]":
        """``self["scoremix"]``, ``size`` photos at a time (float32): the column statistics come from the whole
        arrays, as :func:`scoremix` takes them, then each block's rows are made by the same operations (the
        softmax is a row's own), so every number is the one :func:`scoremix` gives."""
        rows = self.mix_rows()
        for start in range(0, len(self.Z), size):
            yield rows[start : start + size]

    def mix_rows(self) -> "MixRows":
        """``self["scoremix"]`` as rows made when read (:class:`MixRows`), from the cosines this view holds: what an
        archive's clustered feature reads its first columns from instead of keeping them (issue 25)."""
        import numpy as np

        scale, tiny = np.float32(self.scale), np.float32(1e-12)
        if len(self.Z) <= STAT_ROWS:  # as scoremix computes them
            probs = softmax(scale * self.Z)
            p_mean = probs.mean(0, keepdims=True)
            probs -= p_mean
            p_norm = np.sqrt(max(probs.var(0).sum(), tiny))
            del probs
            s_mean = self.Z.mean(0, keepdims=True)
            centred = self.Z - s_mean
            s_norm = np.sqrt(max(centred.var(0).sum(), tiny))
            del centred
        else:  # an archive: the same moments from blocks of photos, to float rounding (no N×K temporaries)
            from proxysort.moments import Moments

            p_stats, s_stats = Moments(), Moments()
            for start in range(0, len(self.Z), STAT_ROWS):
                z = self.Z[start : start + STAT_ROWS]
                p_stats.add(softmax(scale * z))
                s_stats.add(z)
            (p_mean, p_var), (s_mean, s_var) = p_stats.moments(), s_stats.moments()
            p_mean, s_mean = p_mean[None, :], s_mean[None, :]
            p_norm, s_norm = np.sqrt(max(p_var.sum(), tiny)), np.sqrt(max(s_var.sum(), tiny))
        return MixRows(self.Z, scale, p_mean, p_norm, s_mean, s_norm)

    def __iter__(self) -> Iterator[str]:
        return iter(self._NAMES)

    def __len__(self) -> int:
        return len(self._NAMES)


class MixRows:
    """``scoremix`` of the cosines ``Z`` with the statistics of the whole set they were taken from, a row made
    when read: ``rows[i]``, ``rows[a:b]``, ``rows[mask]`` and ``rows[indices]`` are the float32 rows
    :func:`scoremix` gives those photos (each row is its own softmax and the same elementwise steps, so a row
    does not depend on the rows read with it). ``subset`` keeps the set's statistics: a feature's rows kept for
    k-means read the numbers the whole run's feature holds."""

    __slots__ = ("Z", "_stats")

    def __init__(self, Z: "np.ndarray", *stats: "np.ndarray | np.floating") -> None:
        self.Z, self._stats = Z, stats

    @property
    def width(self) -> int:
        """Columns per row: the probabilities' and the cosines' halves."""
        return 2 * int(self.Z.shape[1])

    def __len__(self) -> int:
        return len(self.Z)

    def __getitem__(self, rows: Any) -> "np.ndarray":
        import numpy as np

        scale, p_mean, p_norm, s_mean, s_norm = self._stats
        picked = self.Z[rows]
        z = picked if picked.ndim == 2 else picked[None, :]
        out = np.empty((len(z), self.width), np.float32)
        k = z.shape[1]
        p, c = out[:, :k], out[:, k:]
        np.subtract(softmax(scale * z), p_mean, out=p)
        p /= p_norm
        np.subtract(z, s_mean, out=c)
        c /= s_norm
        return out if picked.ndim == 2 else out[0]

    def subset(self, mask: "np.ndarray") -> "MixRows":
        return MixRows(self.Z[mask], *self._stats)


def zero_shot_features(Z: "np.ndarray", scale: float) -> ZeroShotView:
    """``scores``, ``probs`` and ``scoremix`` of the cosines ``Z`` (N×K), as the torch version gives them
    (a read-only mapping that makes the last two on access)."""
    return ZeroShotView(Z, scale)
