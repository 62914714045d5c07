"""The synthetic world: reproducible pixels, independent attributes, partial captions, one-token words."""

from __future__ import annotations

import csv
import random
from collections import Counter

import numpy as np
import pytest

from miniworld.captions import CONCEPT_WORDS, SYNONYMS, caption
from miniworld.generate import ATTRIBUTES, IMAGE_SIZE, TRAIN_ONLY, render, sample_attributes, values, write_folder


def test_render_is_deterministic_and_sized():
    s = sample_attributes(3, seed=5)
    a, b = render(s[0]), render(s[0])
    assert a.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(render(s[0]), render(s[1]))


def test_every_value_renders_in_the_training_world():
    for name in ATTRIBUTES:
        for value in values(name, training=True):
            base = sample_attributes(1, seed=0)[0]
            attrs = {**base.attrs(), name: value}
            img = render(type(base)(**attrs, seed=1))
            assert img.std() > 5  # something is drawn, not a blank frame


def test_object_colour_differs_from_the_grey_background():
    """The background is grey, so colour belongs to the object alone."""
    s = sample_attributes(1, seed=2)[0]
    img = render(type(s)(color="red", shape="square", pattern="plain", size="large", seed=3)).astype(int)
    saturation = img.max(axis=2) - img.min(axis=2)
    assert (saturation > 60).mean() > 0.1
    assert np.median(saturation) < 30


def test_attributes_are_uniform_and_independent():
    samples = sample_attributes(6000, seed=0)
    for name, vals in ATTRIBUTES.items():
        counts = Counter(s.attrs()[name] for s in samples)
        assert set(counts) == set(vals)
        assert min(counts.values()) > 0.7 * len(samples) / len(vals)
    # Independence: shape is spread evenly inside one colour too.
    reds = Counter(s.shape for s in samples if s.color == "red")
    assert min(reds.values()) > 0.6 * sum(reds.values()) / len(ATTRIBUTES["shape"])


def test_training_only_values_never_reach_evaluation_folders():
    evaluation = sample_attributes(2000, seed=1)
    training = sample_attributes(2000, seed=1, training=True)
    extra = {v for vals in TRAIN_ONLY.values() for v in vals}
    assert not extra & {v for s in evaluation for v in s.attrs().values()}
    assert extra <= {v for s in training for v in s.attrs().values()}


def test_captions_mention_some_attributes_but_never_all():
    rng = random.Random(0)
    samples = sample_attributes(3000, seed=3, training=True)
    mentioned_counts = Counter()
    for s in samples:
        text = caption(s, rng)
        words = set(text.replace(",", " ").replace(":", " ").split())
        named = [k for k, v in s.attrs().items() if v in words or SYNONYMS.get(v) in words
                 or (k == "pattern" and {"striped", "dotted", "wavy", "lined", "nothing"} & words)]
        assert 1 <= len(named) <= 3, text
        mentioned_counts.update(named)
    assert min(mentioned_counts.values()) > 0.3 * len(samples)


def test_concept_templates_appear_in_captions():
    rng = random.Random(1)
    texts = [caption(s, rng) for s in sample_attributes(500, seed=4)]
    assert any(" with a color of " in t for t in texts)
    assert any(" whose shape is " in t for t in texts)


def test_attribute_words_are_single_clip_tokens():
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer()
    words = {v for name in ATTRIBUTES for v in values(name, training=True)}
    words |= set(SYNONYMS.values()) | {w for ws in CONCEPT_WORDS.values() for w in ws}
    multi = {w: tok.encode(w) for w in words if len(tok.encode(w)) != 1}
    assert not multi


def test_write_folder_layout_matches_shared_datasets(tmp_path):
    samples = write_folder(tmp_path / "world", 12, seed=7)
    with (tmp_path / "world" / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", *ATTRIBUTES]
    assert len(rows) == len(samples) == 12
    for row, sample in zip(rows, samples):
        assert (tmp_path / "world" / row["path"]).is_file()
        assert {k: row[k] for k in ATTRIBUTES} == sample.attrs()
        assert not any(v in row["path"] for v in sample.attrs().values())  # names carry no label



# ----------------------------------------------------------------------------- the second world (glyphs)


def test_glyph_world_renders_deterministically_with_independent_attributes():
    from miniworld import glyphs

    s = glyphs.sample_attributes(3, seed=5)
    assert np.array_equal(glyphs.render(s[0]), glyphs.render(s[0]))
    assert glyphs.render(s[0]).shape == (glyphs.IMAGE_SIZE, glyphs.IMAGE_SIZE, 3)
    samples = glyphs.sample_attributes(6000, seed=0)
    for name, vals in glyphs.ATTRIBUTES.items():
        counts = Counter(s.attrs()[name] for s in samples)
        assert set(counts) == set(vals) and min(counts.values()) > 0.7 * len(samples) / len(vals)
    training = {v for s in glyphs.sample_attributes(2000, seed=1, training=True) for v in s.attrs().values()}
    evaluation = {v for s in glyphs.sample_attributes(2000, seed=1) for v in s.attrs().values()}
    extra = {v for vals in glyphs.TRAIN_ONLY.values() for v in vals}
    assert extra <= training and not extra & evaluation


def test_glyphs_differ_and_position_moves_the_glyph():
    from miniworld.glyphs import ATTRIBUTES, GlyphSample, render

    def ink(img):  # pixels far from the plain snow ground
        return (np.abs(img.astype(int) - np.median(img.reshape(-1, 3), axis=0)).sum(-1) > 150)

    base = dict(color="black", background="snow", position="middle", seed=3)
    masks = [ink(render(GlyphSample(symbol=s, **base))) for s in ATTRIBUTES["symbol"]]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert (masks[i] ^ masks[j]).sum() > 40  # distinct silhouettes
    cols = {p: ink(render(GlyphSample(**{**base, "position": p}, symbol="alpha"))).nonzero()[1].mean()
            for p in ("left", "middle", "right")}
    assert cols["left"] < cols["middle"] < cols["right"]


def test_glyph_captions_are_plain_and_never_name_the_symbol():
    """No home advantage: never the proxy prompt's phrasing; identity never named."""
    from miniworld.glyph_captions import FORBIDDEN, SYNONYMS, caption_with_attributes
    from miniworld.glyphs import ATTRIBUTES, CAPTIONED, sample_attributes

    rng = random.Random(0)
    mentioned = Counter()
    for s in sample_attributes(3000, seed=3, training=True):
        text, named = caption_with_attributes(s, rng)
        assert not any(f in text for f in FORBIDDEN), text
        assert not set(text.replace(",", " ").split()) & set(ATTRIBUTES["symbol"]), text
        assert set(named) <= set(CAPTIONED) and named
        for v in named.values():
            assert v in text or SYNONYMS.get(v, "\0") in text, (text, named)
        mentioned.update(named.keys())
    assert min(mentioned.values()) > 0.3 * 3000


def test_halfknown_captions_are_plain_and_confuse_only_the_pairs():
    """The third world's captions: never the proxy prompt's phrasing; a value of a confused pair is named as
    its partner about CONFUSION_RATE of the time (and the trainer is told the pair); other values never."""
    from miniworld.generate import sample_attributes
    from miniworld.halfknown import _PATTERN_TAIL, CONFUSED, CONFUSION_RATE, FORBIDDEN, caption_with_attributes

    def names(value: str, text: str) -> bool:  # "with nothing behind it" names plain without the word
        return value in text.split() or any(tail in text for tail in _PATTERN_TAIL.get(value, ()))

    pairs = {v: pair for p in CONFUSED.values() for pair in p for v in pair}
    rng = random.Random(0)
    swapped, said = Counter(), Counter()
    for s in sample_attributes(4000, seed=5, training=True):
        text, told = caption_with_attributes(s, rng)
        assert not any(f in text for f in FORBIDDEN), text
        for k, v in told.items():
            true = s.attrs()[k]
            if true in pairs:
                assert v == tuple(sorted(pairs[true])), (text, told)
                partner = next(p for p in pairs[true] if p != true)
                said[true] += 1
                swapped[true] += names(partner, text) and not names(true, text)
            else:
                assert v == true, (text, told)
    for value, n in said.items():
        assert abs(swapped[value] / n - CONFUSION_RATE) < 0.08, (value, swapped[value], n)


@pytest.mark.slow
def test_halfknown_pairs_are_split_by_the_image_tower_alone():
    """The half-known world's recipe (issue 21): the text side confuses pairs that the *image* embedding
    separates, so a method that looks at the photos can win. Two-group k-means on the frozen image tower's
    vectors of just one pair's photos must split the pair (measured 0.97-1.00 on photo sets 0-2; the first
    recipe's stripes/grid pair gave 0.00 and fails here)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    from benchmarks.quality import encode_world
    from miniworld.halfknown import CONFUSED
    from miniworld.worlds import get_world
    from proxysort.encoders import ModelSpec, load_clip

    world = get_world("halfknown")
    assert world.frozen_image is not None
    clip = load_clip(ModelSpec(str(world.config), str(world.frozen_image), "cpu"))
    samples, x = encode_world(world, clip, 800, seed=0)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    for concept, pairs in CONFUSED.items():
        truth = np.array([s.attrs()[concept] for s in samples])
        for pair in pairs:
            inside = np.isin(truth, pair)
            xs = x[inside] - x[inside].mean(0)
            groups = KMeans(2, n_init=10, random_state=0).fit_predict(xs)
            assert normalized_mutual_info_score(truth[inside], groups) > 0.9, (concept, pair)


def test_glyph_world_layout_matches_shared_datasets(tmp_path):
    from miniworld.glyphs import ATTRIBUTES, write_folder

    samples = write_folder(tmp_path / "world", 6, seed=7)
    with (tmp_path / "world" / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", *ATTRIBUTES] and len(rows) == len(samples)
