"""The zero-shot view in NumPy: what a method that needs only the candidate prompts' text features computes,
without torch.

Why a second version of :func:`proxysort.learn.core.zero_shot_features`: importing torch and open_clip is
most of a cached re-run's time (benchmarks/results/cached-rerun.md), and a method declared with
:attr:`proxysort.learn.method.Method.from_words` needs nothing of the model but the words' text features
and its logit scale, both kept in the store. The operations are the torch ones, in the same order, so the
two agree to float32 rounding (``tests/test_instant.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from proxysort.rows import Matrix


def unit_rows(a: "np.ndarray") -> "np.ndarray":
    """float32 rows scaled to unit length, as ``torch.nn.functional.normalize`` does (norm clamped at 1e-12)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float32)
    return (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.float32(1e-12))).astype(np.float32)


def softmax(z: "np.ndarray") -> "np.ndarray":
    """Row-wise softmax, shifted by the row's maximum as torch does."""
    import numpy as np

    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def scoremix(scores: "np.ndarray", probs: "np.ndarray") -> "np.ndarray":
    """:func:`proxysort.learn.core.scoremix` in NumPy (why it is made so is said there)."""
    import numpy as np

    centred = scores - scores.mean(0, keepdims=True)
    p = probs - probs.mean(0, keepdims=True)
    tiny = np.float32(1e-12)
    return np.concatenate([p / np.sqrt(max(p.var(0).sum(), tiny)),
                           centred / np.sqrt(max(centred.var(0).sum(), tiny))], axis=1).astype(np.float32)


#: Weight of the photos' own image vectors in :func:`imagemix`, against 1 for each half of ``scoremix``.
#: Measured on three miniworlds × four word lists × photo sets 0-5 (benchmarks/results/no-learning.md):
#: 0.5 barely changes ``scoremix``, 1.0 and more let the image's dominant structure (another attribute)
#: pull the groups of a concept the words hardly tell apart (shape: −0.02 to −0.13 NMI); 0.75 was best.
IMAGE_WEIGHT = 0.75
#: The image vectors' principal directions :func:`imagemix` keeps: k-means then works on N × (2K + 32)
#: numbers rather than N × (2K + 512), and the image vectors are read a block at a time (rows.py), never
#: held whole (issue 25). On the miniworlds (64-dimensional vectors) 16 and 32 directions clustered as
#: all 64 did (no-learning.md); 8 lost half of the gain.
IMAGE_COMPONENTS = 32


def imagemix(scoremix_rows: "np.ndarray", images: "Matrix", weight: float = IMAGE_WEIGHT,
             components: int = IMAGE_COMPONENTS) -> "np.ndarray":
    """``scoremix`` beside the photos' unit image vectors, centred, projected on their
    ``components`` principal directions, scaled by the vectors' whole total variance (so the kept
    part has at most unit total variance) and weighted by ``weight`` (Euclidean k-means on it).

    Why: where CLIP's text side confuses two values (red and orange named alike) every score the words
    give is the same for both, so no feature of the scores can split them, while the image vectors often
    do (a linear probe tells them apart perfectly in the half-known miniworld). Beside the scores, the
    image part decides only what the scores leave open: the words still say which groups there are, at
    a weight where the image's own dominant structure does not pull groups the words do tell apart.
    Centring, directions and scale are over the photos of the run (a property of the set, like
    ``scoremix``); two passes over ``images`` (an array or a lazy row matrix), in float64 for the moments.
    """
    import numpy as np

    from proxysort.rows import blocks

    n, total, second = 0, None, None
    for block in blocks(images):
        u = unit_rows(block).astype(np.float64)
        total = u.sum(0) if total is None else total + u.sum(0)
        second = u.T @ u if second is None else second + u.T @ u
        n += len(u)
    assert total is not None and second is not None and n > 0  # a run has photos
    mean = total / n
    cov = second / n - np.outer(mean, mean)
    spread = float(max(np.trace(cov), 1e-12))
    _, vecs = np.linalg.eigh(cov)
    top = vecs[:, ::-1][:, :components]
    image = np.concatenate([(unit_rows(block).astype(np.float64) - mean) @ top for block in blocks(images)])
    return np.concatenate([np.asarray(scoremix_rows, dtype=np.float32),
                           (weight / np.sqrt(spread) * image).astype(np.float32)], axis=1).astype(np.float32)


def zero_shot_features(Z: "np.ndarray", scale: float) -> dict[str, "np.ndarray"]:
    """``scores``, ``probs`` and ``scoremix`` of the cosines ``Z`` (N×K), as the torch version gives them."""
    import numpy as np

    Z = np.asarray(Z, dtype=np.float32)
    probs = softmax(np.float32(scale) * Z)
    return {"scores": Z, "probs": probs, "scoremix": scoremix(Z, probs)}
