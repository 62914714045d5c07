"""The learning registry (src/proxysort/learn/): methods declared once, typed options, k an argument."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from proxysort.errors import UsageError

COLOR = ("red", "green", "blue", "yellow")


def _images(clip, n: int = 12, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, clip.embed_dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_every_method_declares_what_the_rest_of_proxysort_reads() -> None:
    from proxysort.learn.core import DEFAULT_MODE, FEATURES
    from proxysort.learn.registry import DEFAULT_FEATURE, METHODS, MODES

    assert {"zeroshot", "subspace", "free", "linear", "multimap", "multisub", "dproxy"} <= set(MODES)
    assert DEFAULT_MODE == "zeroshot" and DEFAULT_FEATURE == "imagemix"
    for name, m in METHODS.items():
        assert m.name == name and m.summary and callable(m.learn)
        assert m.default_feature in m.features and set(m.features) <= set(FEATURES)
    # Only DProxy reads k; every learned method but DProxy is kept as rows per photo (zeroshot learns nothing,
    # it is made from the words); only DProxy keeps its own steps.
    assert [m.name for m in METHODS.values() if m.uses_k] == ["dproxy"]
    assert [m.name for m in METHODS.values() if m.rows] == ["subspace", "free", "linear", "multimap", "multisub"]
    assert [m.name for m in METHODS.values() if m.learn_stored] == ["dproxy"]


@pytest.mark.parametrize(
    "mode, options, match",
    [
        ("dproxy", {"sampel": 0}, r"`sampel` is not an option of method dproxy \(its options: `sample`"),
        ("multimap", {"gama": 5}, r"`gama` is not an option of method multimap"),
        ("subspace", {"gamma": 1}, r"`gamma` is not an option of method subspace \(its options: none\)"),
        ("dproxy", {"sample": 1.5}, r"`sample` must be a whole number, at least 0, not 1.5"),
        ("dproxy", {"sample": True}, r"`sample` must be a whole number"),
        ("multimap", {"gamma": "x"}, r"`gamma` must be a number, at least 0, not 'x'"),
        ("multisub", {"rho": float("nan")}, r"`rho` must be a number"),
        ("dproxy", {"tau_end": 0}, r"`tau_end` must be a number, above 0, not 0"),
        ("dproxy", {"exact_every": 0}, r"`exact_every` must be a whole number, at least 1, not 0"),
        ("dproxy", {"gamma_u": float("inf")}, r"`gamma_u` must be a number"),
        ("dproxy", {"k": 3}, r"`k` is not an option: pass the number of groups as the `k` argument"),
        ("dproxy", ["sample"], r"`options` for method dproxy must be a mapping"),
    ],
)
def test_unknown_or_ill_typed_options_are_refused_in_one_sentence(mode, options, match) -> None:
    from proxysort.learn.core import ProxyConfig
    from proxysort.learn.registry import method_for

    with pytest.raises(UsageError, match=match) as info:
        method_for(ProxyConfig(mode=mode, options=options))
    assert str(info.value).count(". ") == 0  # one sentence


def test_options_are_typed_and_an_instance_passes_as_it_is() -> None:
    from proxysort.learn.core import ProxyConfig
    from proxysort.learn.registry import method
    from proxysort.methods.dproxy import DProxyOptions

    parsed = method("dproxy").parse({"sample": 16.0, "gamma_u": 1})
    assert parsed == DProxyOptions(sample=16, gamma_u=1.0) and isinstance(parsed.sample, int)
    given = DProxyOptions(sample=0)
    assert method("dproxy").parse(given) is given
    with pytest.raises(UsageError, match="must be a mapping of option names or MultiMapOptions"):
        method("multimap").parse(given)
    with pytest.raises(UsageError, match="`mode` must name a proxy mode"):
        method("magic")
    assert ProxyConfig().options == {}


def test_a_feature_the_method_cannot_give_is_refused_before_learning() -> None:
    from proxysort.learn.core import ProxyConfig
    from proxysort.learn.registry import settled

    assert settled(ProxyConfig(mode="multimap"), None)[1] == "prompt"
    with pytest.raises(UsageError, match="`feature` scoremix is not given by method multimap"):
        settled(ProxyConfig(mode="multimap"), "scoremix")
    # DProxy learns every photo (sample 0) when a per-photo feature is clustered, unless a sample is chosen.
    assert settled(ProxyConfig(mode="dproxy"), "prompt")[0].options.sample == 0
    assert settled(ProxyConfig(mode="dproxy"), None)[0].options.sample is None
    assert settled(ProxyConfig(mode="dproxy", options={"sample": 8}), "prompt")[0].options.sample == 8


def test_k_reaches_only_the_methods_that_use_it(tiny_clip) -> None:
    from proxysort.learn.core import ProxyConfig
    from proxysort.learn.registry import run_for

    assert run_for(ProxyConfig(mode="dproxy"), tiny_clip, k=3)[1].k == 3
    for mode in ("zeroshot", "subspace", "free", "linear", "multimap", "multisub"):
        method, run = run_for(ProxyConfig(mode=mode), tiny_clip, k=3)
        assert run.k is None and run.config.epochs == method.default_epochs("refine", "cpu")


def test_epochs_default_per_method_and_device() -> None:
    from proxysort.learn.registry import METHODS, epochs_help

    assert METHODS["subspace"].default_epochs("refine", "cpu") == 1
    assert METHODS["subspace"].default_epochs("adam", "cuda") == 300
    assert METHODS["dproxy"].default_epochs("adam", "cuda") == 24
    assert "subspace 1 exact pass per photo" in epochs_help() and "dproxy 24 epochs" in epochs_help()


def _src() -> Path:
    import proxysort

    return Path(proxysort.__file__).parent


def test_no_module_outside_the_registry_and_the_methods_compares_method_names() -> None:
    """Which learner runs, what is cached, what Ray may split: declared on the Method, never decided by
    comparing a method's name (``mode == "dproxy"``, ``mode in ("subspace", ...)``) elsewhere."""
    from proxysort.learn.registry import MODES

    root = _src()
    found = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("learn/", "methods/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [n for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in MODES]
                if names:
                    found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_the_comparison_finder_can_fail() -> None:
    tree = ast.parse('if config.mode == "dproxy": pass')
    assert any(isinstance(n, ast.Compare) and any(isinstance(c, ast.Constant) and c.value == "dproxy"
                                                   for c in ast.walk(n)) for n in ast.walk(tree))


def test_the_methods_are_imported_by_name_nowhere() -> None:
    """Real imports only: the import-cycle test (tests/test_imports.py) sees every edge."""
    for path in _src().rglob("*.py"):
        assert "import_module(f" not in path.read_text(), path


def test_the_old_module_names_keep_working_for_library_users(tiny_clip) -> None:
    import proxysort
    from proxysort import proxy
    from proxysort.learn import core, registry

    assert proxysort.learn_proxies is proxy.learn_proxies is registry.learn_proxies
    assert proxysort.ProxyConfig is proxy.ProxyConfig is core.ProxyConfig
    assert proxy.DEFAULT_MODE == "zeroshot" and proxy.DEFAULT_FEATURE == "imagemix" and "dproxy" in proxy.MODES
    (r,) = proxy.learn_proxies(_images(tiny_clip), [proxy.Concept("color", COLOR)], tiny_clip,
                               proxy.ProxyConfig(mode="subspace", epochs=1))
    assert r.feature().shape == (12, tiny_clip.embed_dim) and r.default_feature == "prompt"
