"""The seed methods (proxysort.methods): each one's defining property, on the tiny random CLIP.

Quality (do they sort by the concept?) is measured on the trained miniclips in test_quality.py and
benchmarks/quality.py; here each method must keep the structure that makes it that method.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COLOR = ("red", "green", "blue", "yellow", "purple", "orange")


def _images(clip, n: int = 48, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, clip.embed_dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _learn(clip, X, concepts, k=None, **config):
    from proxysort.proxy import ProxyConfig, learn_proxies

    config.setdefault("epochs", 6)
    config.setdefault("batch_size", 16)
    return learn_proxies(X, list(concepts), clip, ProxyConfig(**config), k=k)


def _run(clip, config, k):
    """The run a method is given for ``config`` and ``k`` (what learn_proxies makes)."""
    from proxysort.learn.registry import run_for

    return run_for(config, clip, k=k)[1]


def _color():
    from proxysort.proxy import Concept

    return Concept("color", COLOR, noun="fruit")


@pytest.mark.parametrize("mode", ["multimap", "multisub", "dproxy"])
def test_every_method_is_selectable_and_deterministic(tiny_clip, mode):
    from proxysort.proxy import FEATURES, MODES

    assert mode in MODES
    X = _images(tiny_clip)
    options = {"sample": 0} if mode == "dproxy" else {}  # every photo learned: every feature
    (a,) = _learn(tiny_clip, X, [_color()], mode=mode, options=options)
    (b,) = _learn(tiny_clip, X, [_color()], mode=mode, options=options)
    for name in ("prompt", "fused", "scores", "concat"):
        assert name in a.features and name in FEATURES
        assert a.features[name].shape[0] == len(X)
        np.testing.assert_array_equal(a.features[name], b.features[name])
    np.testing.assert_allclose(np.linalg.norm(a.feature("prompt"), axis=1), 1.0, atol=1e-5)
    assert a.epochs_run > 0 and np.isfinite(a.loss_history).all()


def test_multimap_pull_toward_the_concept_word_moves_proxies(tiny_clip):
    """γ > 0 makes proxies more similar to φ(color) than γ = 0 does; everything else equal."""
    from proxysort.textpath import PromptEncoder

    X = _images(tiny_clip)
    color = _color()
    u = PromptEncoder(tiny_clip, color.prompt).word_embedding("color").numpy()

    def mean_cos(gamma: float) -> float:
        (r,) = _learn(tiny_clip, X, [color], mode="multimap", lr=0.01, beta=0.0, options={"gamma": gamma})
        w = r.feature("proxy")
        return float((w @ u / np.linalg.norm(w, axis=1) / np.linalg.norm(u)).mean())

    assert mean_cos(5.0) > mean_cos(0.0) + 0.01


def test_multimap_reference_term_keeps_proxies_near_their_zero_shot_word(tiny_clip):
    from proxysort.textpath import PromptEncoder

    X = _images(tiny_clip)
    color = _color()
    enc = PromptEncoder(tiny_clip, color.prompt)
    G = torch.stack([enc.word_embedding(w) for w in COLOR]).numpy()

    def offset(alpha: float) -> float:
        (r,) = _learn(tiny_clip, X, [color], mode="multimap", lr=0.01, alpha=alpha, options={"gamma": 0.0})
        base = G[r.zero_shot.argmax(1)]
        return float(np.linalg.norm(r.feature("proxy") - base, axis=1).mean())

    assert offset(50.0) < 0.5 * offset(0.0)


def test_multisub_proxies_stay_in_the_hull_and_its_image_map_starts_at_identity(tiny_clip):
    from proxysort.textpath import PromptEncoder

    X = _images(tiny_clip)
    color = _color()
    (r0,) = _learn(tiny_clip, X, [color], mode="multisub", epochs=0)
    # Untrained: the image side is the input itself, so scores are the zero-shot cosines.
    np.testing.assert_allclose(r0.feature("scores"), r0.zero_shot, atol=1e-5)
    (r,) = _learn(tiny_clip, X, [color], mode="multisub", epochs=6)
    weights = r.feature("weights")
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-5)
    enc = PromptEncoder(tiny_clip, color.prompt)
    G = torch.stack([enc.word_embedding(w) for w in COLOR]).numpy()
    np.testing.assert_allclose(r.feature("proxy"), weights @ G, atol=1e-5)
    # Trained: the map moved the images (scores differ from zero-shot) but not far (rho keeps it near I).
    diff = np.abs(r.feature("scores") - r.zero_shot).max()
    assert 1e-6 < diff < 0.5


def test_multisub_phase_two_separates_pseudo_classes():
    from proxysort.methods.multisub import _phase_two_loss

    labels = torch.tensor([0, 0, 1, 1])
    tight = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    spread = torch.tensor([[0.0, 0.3], [0.0, -0.3], [1.0, 0.3], [1.0, -0.3]])
    close = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.1, 0.0], [0.1, 0.0]])
    assert _phase_two_loss(tight, labels, 2, 0.5) < _phase_two_loss(spread, labels, 2, 0.5)
    assert _phase_two_loss(tight, labels, 2, 0.5) < _phase_two_loss(close, labels, 2, 0.5)
    assert float(_phase_two_loss(tight, labels, 2, 0.5)) == pytest.approx(0.0)


def test_dproxy_prunes_an_over_complete_list_to_k_words(tiny_clip):
    X = _images(tiny_clip)
    (r,) = _learn(tiny_clip, X, [_color()], mode="dproxy", epochs=8, k=3, options={"sample": 0})
    assert len(r.concept.words) == 3 and set(r.concept.words) <= set(COLOR)
    assert r.word_features.shape[0] == 3 and r.zero_shot.shape == (len(X), 3)
    assert r.feature("weights").shape == (len(X), 3)


def test_dproxy_with_a_sample_gives_every_photo_the_zero_shot_view_over_the_kept_words(tiny_clip):
    from proxysort.methods.dproxy import CHOICE_FEATURES
    from proxysort.proxy import zero_shot_features

    X = _images(tiny_clip, n=40)
    (r,) = _learn(tiny_clip, X, [_color()], mode="dproxy", epochs=8, k=3, options={"sample": 16})
    assert len(r.concept.words) == 3 and set(r.concept.words) <= set(COLOR)
    assert set(r.features) == set(CHOICE_FEATURES)
    np.testing.assert_allclose(r.zero_shot, X @ r.word_features.T, atol=1e-5)
    scale = tiny_clip.model.logit_scale.exp().item()
    expected = zero_shot_features(torch.as_tensor(r.zero_shot), min(scale, 100.0))
    for name in CHOICE_FEATURES:
        assert r.features[name].shape[0] == len(X)
        np.testing.assert_allclose(r.features[name], expected[name], atol=1e-5)
    # Groups are named from each photo's zero-shot word among the kept ones.
    np.testing.assert_array_equal(r.prompts(), r.word_features[r.zero_shot.argmax(1)])
    with pytest.raises(Exception, match="not available"):
        r.feature("prompt")


def test_dproxy_word_choice_is_learned_on_the_sample_alone_whatever_the_order(tiny_clip):
    """The sample is the photos with the smallest vector digests: the other photos and the order do not matter."""
    from proxysort.methods.dproxy import choose_words, sample_rows
    from proxysort.proxy import ProxyConfig, photo_keys

    X = _images(tiny_clip, n=40)
    config = ProxyConfig(mode="dproxy", epochs=8, batch_size=16, options={"sample": 16})
    (r,) = _learn(tiny_clip, X, [_color()], mode="dproxy", epochs=8, k=3, options={"sample": 16})
    keys = photo_keys(X)
    rows = sample_rows(keys, 16)
    assert sorted(keys[i] for i in rows) == sorted(keys)[:16] == [keys[i] for i in rows]

    (choice,) = choose_words(X[rows], [_color()], tiny_clip, _run(tiny_clip, config, 3))
    assert r.concept.words == tuple(COLOR[j] for j in choice.kept) and choice.photos == 16
    shuffled = np.random.default_rng(1).permutation(len(X))
    (s,) = _learn(tiny_clip, X[shuffled], [_color()], mode="dproxy", epochs=8, k=3, options={"sample": 16})
    assert s.concept.words == r.concept.words
    np.testing.assert_allclose(s.features["scoremix"], r.features["scoremix"][shuffled], atol=1e-5)
    # Photos whose digests sort after the sample's leave the sample, hence the choice, unchanged.
    extra = _images(tiny_clip, n=200, seed=5)
    later = extra[[k > max(keys[i] for i in rows) for k in photo_keys(extra)]][:20]
    assert len(later) == 20
    (t,) = _learn(tiny_clip, np.concatenate([X, later]), [_color()], mode="dproxy", epochs=8,
                  k=3, options={"sample": 16})
    assert t.concept.words == r.concept.words


def test_dproxy_concepts_choose_their_words_independently(tiny_clip):
    from proxysort.methods.dproxy import choose_words
    from proxysort.proxy import Concept, ProxyConfig

    X = _images(tiny_clip, n=24)
    shape = Concept("shape", ("round", "square", "long", "flat", "tall"), noun="fruit")
    run = _run(tiny_clip, ProxyConfig(mode="dproxy", epochs=8, batch_size=16), 2)
    both = choose_words(X, [_color(), shape], tiny_clip, run)
    alone = [choose_words(X, [c], tiny_clip, run)[0] for c in (_color(), shape)]
    assert [c.kept for c in both] == [c.kept for c in alone]


def test_dproxy_sample_must_be_a_whole_number(tiny_clip):
    from proxysort.errors import UsageError

    with pytest.raises(UsageError, match="`sample` must be a whole number"):
        _learn(tiny_clip, _images(tiny_clip), [_color()], mode="dproxy", options={"sample": -1})


def test_dproxy_pruning_keeps_the_used_words():
    from proxysort.methods.dproxy import prune, usage

    rng = np.random.default_rng(0)
    mix = np.zeros((60, 6))
    mix[:20, 0] = mix[20:40, 3] = mix[40:, 5] = 1.0  # three groups, each using one word
    prompts = mix + 0.01 * rng.standard_normal(mix.shape)
    use = usage(prompts.astype(np.float32), mix, 3, seed=0)
    assert set(np.argsort(-use)[:3].tolist()) == {0, 3, 5}
    assert prune(list(range(6)), use, 3) == [0, 3, 5]
    # Without k: halve, but never drop a word the clusters use.
    assert {0, 3, 5} <= set(prune(list(range(6)), use, None))


def test_dproxy_gate_is_per_image(tiny_clip):
    X = _images(tiny_clip)
    (r,) = _learn(tiny_clip, X, [_color()], mode="dproxy", epochs=4, fuse_weight=0.5, options={"sample": 0})
    h, fused = r.feature("prompt"), r.feature("fused")
    # fused = normalise(g h + (1 - g) x): recover g per image from its position between h and x.
    gates = []
    for hi, xi, fi in zip(h, X, fused):
        a = np.stack([hi, xi], 1)
        coef, *_ = np.linalg.lstsq(a, fi, rcond=None)
        gates.append(coef[0] / coef.sum())
    assert np.std(gates) > 0.01 and all(0 < g < 1 for g in gates)


def test_scores_feature_is_the_zero_shot_score_vector_for_basic_modes(tiny_clip):
    X = _images(tiny_clip)
    for mode in ("zeroshot", "subspace"):
        (r,) = _learn(tiny_clip, X, [_color()], mode=mode, epochs=2)
        np.testing.assert_allclose(r.feature("scores"), r.zero_shot, atol=1e-6)


def test_several_concepts_contrast_in_multimap(tiny_clip):
    from proxysort.proxy import Concept

    X = _images(tiny_clip)
    results = _learn(tiny_clip, X, [_color(), Concept("species", ("apple", "banana", "cherry"), noun="fruit")],
                     mode="multimap")
    assert [r.concept.name for r in results] == ["color", "species"]


def test_dproxy_corrected_model_has_the_exact_gradient_at_its_anchor(tiny_clip):
    """The refine engine's model of the text path: surrogate + slope·(p − p0) has the encoder's gradient at p0."""
    from proxysort.learn import engine
    from proxysort.methods.dproxy import correction, exact_alignment, surrogate_alignment
    from proxysort.proxy import ProxyConfig

    X = torch.as_tensor(_images(tiny_clip, n=8))
    pb = engine.setup(_color(), tiny_clip, X, _run(tiny_clip, ProxyConfig(), None))
    p0 = (3.0 * torch.randn(8, len(COLOR), generator=torch.Generator().manual_seed(0))).softmax(-1)
    slope = correction(pb, p0, X)

    def grad(fn):
        p = p0.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(p).sum(), p)
        return g

    exact = grad(lambda p: exact_alignment(pb, p, X))
    model = grad(lambda p: surrogate_alignment(pb, p, X) + ((p - p0) * slope).sum(-1))
    np.testing.assert_allclose(model.numpy(), exact.numpy(), atol=1e-5)
    assert not np.allclose(grad(lambda p: surrogate_alignment(pb, p, X)).numpy(), exact.numpy(), atol=1e-3)


def test_dproxy_refine_engine_runs_the_encoder_every_few_epochs(tiny_clip, monkeypatch):
    """Refine: an exact forward+backward pass every `exact_every` epochs from each pruning, plus a forward
    pass at each pruning; adam: one pass per epoch. Counted as encoder calls on one batch."""
    from proxysort.proxy import Concept
    from proxysort.textpath import PromptEncoder

    calls = []
    encode = PromptEncoder.encode
    monkeypatch.setattr(PromptEncoder, "encode", lambda self, rows: calls.append(len(rows)) or encode(self, rows))
    X = _images(tiny_clip, n=16)
    twelve = Concept("color", COLOR + ("pink", "brown", "black", "white", "gray", "gold"), noun="fruit")
    counts = {}
    for engine, every in (("refine", 2), ("refine", 4), ("refine", 1), ("adam", 2)):
        calls.clear()
        _learn(tiny_clip, X, [twelve], mode="dproxy", engine=engine, epochs=16, batch_size=16,
               k=2, options={"sample": 16, "exact_every": every})
        counts[engine, every] = len(calls)
    # 16 epochs, pruned after epochs 4, 8 and 12 (12 → 6 → 3 → 2 words; 3 snapshots); the choice is known
    # then, so the last quarter is not learned. adam: 12 exact passes; refine: one every `every` epochs of
    # each 4-epoch quarter (6, 3, 12 passes).
    assert counts == {("refine", 2): 6 + 3, ("refine", 4): 3 + 3, ("refine", 1): 12 + 3, ("adam", 2): 12 + 3}


def test_dproxy_stops_learning_once_the_word_choice_is_known(tiny_clip, monkeypatch):
    """The words a sample keeps are fixed once the list is down to k words: no later epoch is learned."""
    from proxysort.methods.dproxy import horizon
    from proxysort.textpath import PromptEncoder

    calls = []
    encode = PromptEncoder.encode
    monkeypatch.setattr(PromptEncoder, "encode", lambda self, rows: calls.append(len(rows)) or encode(self, rows))
    X = _images(tiny_clip, n=16)
    (r,) = _learn(tiny_clip, X, [_color()], mode="dproxy", engine="adam", epochs=16, k=6, options={"sample": 16})
    assert calls == [] and r.concept.words == COLOR and r.loss_history == []  # k words given: nothing to learn
    (r,) = _learn(tiny_clip, X, [_color()], mode="dproxy", engine="adam", epochs=16, k=3, options={"sample": 16})
    assert len(calls) == 4 + 1 and len(r.concept.words) == 3 and len(r.loss_history) == 4  # 6 → 3 at epoch 4
    assert [horizon(6, k, 16) for k in (6, 5, 3, 2, None)] == [0, 4, 4, 8, 12]
    assert [horizon(12, k, 24) for k in (12, 6, 5, 3, 2)] == [0, 6, 12, 12, 18]


def test_dproxy_word_choice_for_every_k_equals_a_fresh_run_whatever_came_before(tiny_clip):
    """Nodes learned for one k serve another exactly: the choice read from shared nodes, in any order of k,
    is the choice of a fresh run, and the words a run over every epoch (``sample`` 0) ends with; each
    stored stretch is learned once."""
    from proxysort.methods.dproxy import _MemoryNodes, choose_words
    from proxysort.proxy import Concept, ProxyConfig

    X = _images(tiny_clip, n=24, seed=3)
    ten = Concept("color", COLOR + ("pink", "brown", "black", "white"), noun="fruit")

    def config(k, sample=24):
        return _run(tiny_clip, ProxyConfig(mode="dproxy", epochs=12, batch_size=16, options={"sample": sample}), k)

    fresh = {k: choose_words(X, [ten], tiny_clip, config(k))[0] for k in range(2, 11)}
    nodes = _MemoryNodes()
    learned = 0
    for k in (5, 2, 9, 3, 10, 4, 7, 6, 8):
        (choice,) = choose_words(X, [ten], tiny_clip, config(k), nodes=[nodes])
        assert choice.kept == fresh[k].kept and choice.history == fresh[k].history and len(choice.kept) == k
        learned += choice.learned
    # 10 → 5 → 3 → 2 words at epochs 3, 6, 9: k from 5 up are decided at the first node (one stretch).
    assert fresh[10].learned == 0 and [fresh[k].learned for k in (5, 4, 3, 2)] == [3, 6, 6, 9]
    assert learned == 3 * len(nodes) < sum(ch.learned for ch in fresh.values())
    for k in (2, 4, 7):
        (full,) = _learn(tiny_clip, X, [ten], mode="dproxy", epochs=12, k=k, options={"sample": 0})
        assert full.concept.words == tuple(ten.words[j] for j in fresh[k].kept)
