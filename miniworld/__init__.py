"""A miniature synthetic photo world with independent attributes, and a small CLIP trained on it.

No pretrained CLIP weights can be downloaded where proxysort is built and tested, and random weights
cannot show that concept-guided clustering works. This package renders photos whose ground truth is
known (object color, shape, background pattern, size), writes captions that each mention only some of
those attributes, and trains a small open_clip model on them (``python -m miniworld.train``). The
weights live in ``tests/fixtures/miniclip.pt``; ``benchmarks/quality.py`` and ``tests/test_quality.py``
measure whether clustering follows the named concept.
"""

from miniworld.generate import ATTRIBUTES, Sample, render, sample_attributes, write_folder

__all__ = ["ATTRIBUTES", "Sample", "render", "sample_attributes", "write_folder"]
