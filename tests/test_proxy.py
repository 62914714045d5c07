"""Proxy learning: the modes' guarantees (convex hull, zero-shot baseline), determinism, descent, several concepts."""

from __future__ import annotations

import numpy as np
import pytest

from proxysort.errors import UsageError
from proxysort.progress import Reporter

torch = pytest.importorskip("torch")

COLOR = ("red", "green", "blue", "yellow")
SPECIES = ("apple", "banana", "cherry")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _images(clip, n: int = 40, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, clip.embed_dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _concepts():
    from proxysort.proxy import Concept

    return Concept("color", COLOR, noun="fruit"), Concept("species", SPECIES, noun="fruit")


def _learn(clip, X, concepts, reporter=None, **config):
    from proxysort.proxy import ProxyConfig, learn_proxies

    config.setdefault("epochs", 8)
    config.setdefault("batch_size", 16)
    return learn_proxies(X, list(concepts), clip, ProxyConfig(**config), reporter)


def _candidate_rows(clip, concept):
    from proxysort.textpath import PromptEncoder

    enc = PromptEncoder(clip, concept.prompt)
    return enc, torch.stack([enc.word_embedding(w) for w in concept.words]).numpy()


def test_zeroshot_is_the_nearest_filled_prompt(tiny_clip):
    X = _images(tiny_clip)
    color, _ = _concepts()
    (r,) = _learn(tiny_clip, X, [color], mode="zeroshot")
    assert r.epochs_run == 0 and r.loss_history == []
    np.testing.assert_allclose(r.zero_shot, X @ r.word_features.T, atol=1e-5)
    ref = tiny_clip.encode_texts([color.prompt.replace("*", w) for w in COLOR])
    np.testing.assert_allclose(r.word_features, ref, atol=1e-6)
    choice = r.zero_shot.argmax(axis=1)
    np.testing.assert_allclose(r.feature("prompt"), r.word_features[choice], atol=1e-6)
    assert (r.feature("weights").argmax(axis=1) == choice).all()


def test_subspace_proxies_lie_in_the_convex_hull_of_the_candidates(tiny_clip):
    X = _images(tiny_clip)
    color, _ = _concepts()
    (r,) = _learn(tiny_clip, X, [color], mode="subspace", lr=0.5)
    weights, proxy = r.feature("weights"), r.feature("proxy")
    assert weights.shape == (len(X), len(COLOR))
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    enc, G = _candidate_rows(tiny_clip, color)
    np.testing.assert_allclose(proxy, weights @ G, atol=1e-6)
    # the prompt feature is the text path applied to that proxy
    np.testing.assert_allclose(r.feature("prompt"), enc.encode(torch.as_tensor(proxy)).detach().numpy(), atol=1e-5)


def test_subspace_starts_from_the_zero_shot_scores(tiny_clip):
    from proxysort.learn.engine import logit_scale as _logit_scale

    X = _images(tiny_clip)
    color, _ = _concepts()
    (r,) = _learn(tiny_clip, X, [color], mode="subspace", epochs=0)
    expected = torch.as_tensor(_logit_scale(tiny_clip) * r.zero_shot).softmax(dim=-1).numpy()
    np.testing.assert_allclose(r.feature("weights"), expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["subspace", "free", "linear"])
def test_loss_goes_down(tiny_clip, mode):
    X = _images(tiny_clip)
    color, _ = _concepts()
    (r,) = _learn(tiny_clip, X, [color], mode=mode, epochs=10, tol=0.0)
    assert r.epochs_run == 10 == len(r.loss_history)
    assert r.loss_history[-1] < r.loss_history[0]
    assert all(np.isfinite(r.loss_history))


def test_training_improves_alignment_over_zero_shot(tiny_clip):
    """The learned prompt must fit its image better than the zero-shot prompt did: the point of the method."""
    X = _images(tiny_clip)
    color, _ = _concepts()
    (zs,) = _learn(tiny_clip, X, [color], mode="zeroshot")
    (r,) = _learn(tiny_clip, X, [color], mode="free", epochs=15, lr=0.01, alpha=0.0)
    before = (zs.feature("prompt") * X).sum(axis=1).mean()
    after = (r.feature("prompt") * X).sum(axis=1).mean()
    assert after > before + 0.05


def test_same_seed_same_result(tiny_clip):
    X = _images(tiny_clip)
    a = _learn(tiny_clip, X, _concepts(), mode="free", seed=7)
    b = _learn(tiny_clip, X, _concepts(), mode="free", seed=7)
    for ra, rb in zip(a, b):
        assert ra.loss_history == rb.loss_history
        for name in ra.features:
            np.testing.assert_array_equal(ra.features[name], rb.features[name])


def test_results_do_not_depend_on_the_batch_size(tiny_clip):
    """Every image owns its parameters and its optimiser state; batching only bounds memory."""
    X = _images(tiny_clip)
    color, _ = _concepts()
    (a,) = _learn(tiny_clip, X, [color], mode="subspace", batch_size=7, tol=0.0)
    (b,) = _learn(tiny_clip, X, [color], mode="subspace", batch_size=64, tol=0.0)
    np.testing.assert_allclose(a.feature("weights"), b.feature("weights"), atol=1e-4)
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-4)


def test_prefix_path_trains_like_the_full_path(tiny_clip):
    X = _images(tiny_clip, n=12)
    color, _ = _concepts()
    (a,) = _learn(tiny_clip, X, [color], mode="free", path="prefix", epochs=4, tol=0.0)
    (b,) = _learn(tiny_clip, X, [color], mode="free", path="full", epochs=4, tol=0.0)
    np.testing.assert_allclose(a.feature("prompt"), b.feature("prompt"), atol=1e-4)
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-5)


def test_free_mode_alpha_keeps_proxies_near_the_zero_shot_word(tiny_clip):
    X = _images(tiny_clip)
    color, _ = _concepts()
    _, G = _candidate_rows(tiny_clip, color)

    def offset(alpha: float) -> float:
        (r,) = _learn(tiny_clip, X, [color], mode="free", alpha=alpha, lr=0.01, epochs=15, tol=0.0)
        return float(np.linalg.norm(r.feature("proxy") - G[r.zero_shot.argmax(axis=1)], axis=1).mean())

    assert offset(20.0) < 0.5 * offset(0.0)


def test_several_concepts_and_the_contrast_term(tiny_clip):
    X = _images(tiny_clip)
    concepts = _concepts()
    results = _learn(tiny_clip, X, concepts, mode="free", lr=0.01, epochs=15, beta=0.0, tol=0.0)
    assert [r.concept.name for r in results] == ["color", "species"]
    assert results[0].zero_shot.shape == (len(X), len(COLOR))
    assert results[1].zero_shot.shape == (len(X), len(SPECIES))
    from proxysort.textpath import PromptEncoder

    enc = PromptEncoder(tiny_clip, concepts[0].prompt)
    U = torch.stack([enc.word_embedding(c.name) for c in concepts]).numpy()

    def own_margin(rs) -> float:
        """Mean over images and concepts of how much nearer a proxy is to its own concept word."""
        margins = []
        for c, r in enumerate(rs):
            logits = r.feature("proxy") @ U.T
            margins.append(logits[:, c] - logits[:, 1 - c])
        return float(np.mean(margins))

    contrasted = _learn(tiny_clip, X, concepts, mode="free", lr=0.01, epochs=15, beta=50.0, tol=0.0)
    assert own_margin(contrasted) > own_margin(results) + 0.01


def test_stops_on_a_loss_plateau_before_the_epoch_cap(tiny_clip):
    X = _images(tiny_clip)
    color, _ = _concepts()
    (r,) = _learn(tiny_clip, X, [color], mode="subspace", engine="adam", epochs=200, tol=0.5, patience=2, min_epochs=4)
    assert r.epochs_run == 4


def test_features_and_default(tiny_clip):
    from proxysort.learn.registry import method
    from proxysort.proxy import FEATURES

    X = _images(tiny_clip)
    color, _ = _concepts()
    score_features = {"scores", "probs", "scoremix", "imagemix"}  # the zero-shot view, in every mode
    expected = {
        "zeroshot": {"prompt", "weights", "concat", "fused"} | score_features,
        "subspace": set(FEATURES),
        "free": {"prompt", "proxy", "concat", "fused"} | score_features,
        "linear": {"prompt", "weights", "concat", "fused"} | score_features,
    }
    for mode, names in expected.items():
        (r,) = _learn(tiny_clip, X, [color], mode=mode, epochs=2)
        assert set(r.features) == names == set(method(mode).features), mode
        np.testing.assert_array_equal(r.feature(), r.features[method(mode).default_feature])
        for name in ("prompt", "concat", "fused"):
            assert r.features[name].dtype == np.float32 and len(r.features[name]) == len(X)
            np.testing.assert_allclose(np.linalg.norm(r.features[name], axis=1), 1.0, atol=1e-5)
    with pytest.raises(UsageError, match="not available"):
        r.feature("proxy")


def test_no_clip_parameter_gets_a_gradient(tiny_clip):
    _learn(tiny_clip, _images(tiny_clip), _concepts(), mode="subspace", epochs=2)
    assert all(p.grad is None and not p.requires_grad for p in tiny_clip.model.parameters())


def test_progress_and_fallback_warning_are_reported_once(tmp_path, tiny_clip):
    import contextlib
    import json

    from proxysort.encoders import ModelSpec, load_clip
    from tests.support.photos import TINY_CONFIG

    cfg = json.loads(TINY_CONFIG.read_text())
    cfg["custom_text"] = True
    cfg["text_cfg"].update(no_causal_mask=True, pool_type="last")
    (tmp_path / "bidir.json").write_text(json.dumps(cfg))
    clip = load_clip(ModelSpec(str(tmp_path / "bidir.json"), "none", "cpu"))

    class Recorder(Reporter):
        def __init__(self) -> None:
            self.warnings: list[str] = []
            self.advances = 0

        def warning(self, text: str) -> None:
            self.warnings.append(text)

        @contextlib.contextmanager
        def progress(self, description, total=None):
            def advance(n=1, **fields):
                self.advances += n

            yield advance

    rec = Recorder()
    _learn(clip, _images(clip, n=6), _concepts(), reporter=rec, mode="subspace", epochs=2, tol=0.0)
    assert len(rec.warnings) == 1 and "full text path" in rec.warnings[0]
    assert rec.advances == 6 * 2  # the refine engine counts (photo, concept) pairs done
    rec = Recorder()
    _learn(clip, _images(clip, n=6), _concepts(), reporter=rec, mode="subspace", engine="adam", epochs=2, tol=0.0)
    assert rec.advances == 2  # the Adam engine counts epochs


@pytest.mark.parametrize(
    "change, match",
    [
        ({"mode": "magic"}, "proxy mode"),
        ({"batch_size": 0}, "Batch size"),
        ({"gpu_batch_size": 0}, "Batch size"),
        ({"fuse_weight": 2.0}, "fuse weight"),
    ],
)
def test_bad_config_is_a_usage_error(tiny_clip, change, match):
    with pytest.raises(UsageError, match=match):
        _learn(tiny_clip, _images(tiny_clip, n=4), _concepts(), **change)


def test_bad_inputs_are_usage_errors(tiny_clip):
    from proxysort.proxy import Concept

    X = _images(tiny_clip, n=4)
    with pytest.raises(UsageError, match="at least two"):
        Concept("color", ("red", "red", " "))
    with pytest.raises(UsageError, match="different model"):
        _learn(tiny_clip, np.ones((4, tiny_clip.embed_dim + 1), np.float32), _concepts())
    with pytest.raises(UsageError, match="names must be different"):
        _learn(tiny_clip, X, [_concepts()[0], _concepts()[0]])
    with pytest.raises(UsageError, match="at least one concept"):
        _learn(tiny_clip, X, [])


def test_concept_prompt_keeps_one_placeholder():
    from proxysort.proxy import Concept

    assert Concept("color", COLOR, noun="fruit").prompt == "a photo of a fruit with a color of *"
    assert Concept("color", COLOR).prompt == "a photo with a color of *"
    assert Concept("pose", ("left", "right"), template="a face looking *").prompt == "a face looking *"
    assert Concept("color", ["red", "red", "blue"]).words == ("red", "blue")


@pytest.mark.parametrize("engine", ["refine", "adam"])
def test_a_photo_learns_the_same_alone_or_among_others(tiny_clip, engine):
    """Each photo's parameters are its own: the proxy cache relies on it (new photos learn only their own)."""
    X = _images(tiny_clip, n=30)
    color, _ = _concepts()
    (together,) = _learn(tiny_clip, X, [color], mode="subspace", engine=engine, epochs=3, tol=0.0, batch_size=16)
    (alone,) = _learn(tiny_clip, X[7:8], [color], mode="subspace", engine=engine, epochs=3, tol=0.0, batch_size=16)
    (others,) = _learn(tiny_clip, X[::-1].copy(), [color], mode="subspace", engine=engine, epochs=3, tol=0.0, batch_size=5)
    for name in ("prompt", "weights"):
        np.testing.assert_allclose(alone.features[name][0], together.features[name][7], atol=1e-5)
        np.testing.assert_allclose(others.features[name][::-1], together.features[name], atol=1e-5)


def test_refine_never_ends_worse_than_its_start(tiny_clip):
    """The refine engine keeps each photo's best exactly-scored point, so no photo fits worse than zero-shot."""
    X = _images(tiny_clip, n=60, seed=3)
    color, _ = _concepts()
    (start,) = _learn(tiny_clip, X, [color], mode="subspace", epochs=0)
    (r,) = _learn(tiny_clip, X, [color], mode="subspace", engine="refine", epochs=2)
    before = (start.feature("prompt") * X).sum(axis=1)
    after = (r.feature("prompt") * X).sum(axis=1)
    assert (after >= before - 1e-6).all()
    assert after.mean() > before.mean() + 1e-3
    assert r.epochs_run == 2 == len(r.loss_history) and r.loss_history[1] <= r.loss_history[0]
    enc, G = _candidate_rows(tiny_clip, color)
    np.testing.assert_allclose(r.feature("proxy"), r.feature("weights") @ G, atol=1e-6)
    np.testing.assert_allclose(r.feature("prompt"), enc.encode(torch.as_tensor(r.feature("proxy"))).detach().numpy(), atol=1e-5)
