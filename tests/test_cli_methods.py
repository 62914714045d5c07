"""Every ``--method`` through the real CLI on the tiny model, alone (its own default feature), and the
per-photo methods' proxy cache across another ``--k`` (through ``proxysort.sort`` and the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxysort.learn.registry import METHODS, MODES
from tests.conftest import COLORS
from tests.support.photos import TINY_CONFIG

MODEL = ["--model", str(TINY_CONFIG), "--pretrained", "none", "--device", "cpu"]
WORDS = ["--by", "color", "--words", ",".join(COLORS)]
#: The methods whose results the cache keeps per photo (declared on each Method).
ROW_CACHED = [m.name for m in METHODS.values() if m.rows]


def test_the_per_photo_cache_serves_every_method_that_learns_per_photo() -> None:
    assert ROW_CACHED == ["subspace", "free", "linear", "multimap", "multisub"]


@pytest.mark.parametrize("mode", MODES)  # every registered method, a new one included
def test_every_method_works_alone_with_its_own_default_feature(run_cli, photo_folder: Path, mode: str) -> None:
    from proxysort.learn.registry import method

    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--method", mode, "--epochs", "2",
                      "--no-folders", "--json", *MODEL])
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 12
    labels = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--method", mode, "--epochs", "2",
                      "--feature", method(mode).default_feature, "--no-folders", "--json", *MODEL])
    assert labels.stdout == result.stdout  # the default feature is the method's own


def test_a_feature_the_method_cannot_give_is_a_usage_error_naming_the_flag(run_cli, photo_folder: Path) -> None:
    result = run_cli(["cluster", str(photo_folder), *WORDS, "--k", "3", "--method", "multimap",
                      "--feature", "scoremix", "--no-folders", *MODEL])
    assert result.exit_code == 2 and "--feature" in result.stderr and "multimap" in result.stderr
    assert result.stdout == ""


class _Counting:
    """Counts the photos handed to the learner (what the cache did not serve)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from proxysort.learn import registry

        self.photos = 0
        learn = registry.learn_proxies

        def counted(image_features, *args, **kwargs):
            self.photos += len(image_features)
            return learn(image_features, *args, **kwargs)

        monkeypatch.setattr(registry, "learn_proxies", counted)


@pytest.mark.parametrize("mode", ROW_CACHED)
def test_another_k_reads_every_proxy_from_the_cache_through_sort(
    mode: str, photo_folder: Path, tiny_clip, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from proxysort.learn.core import ProxyConfig
    from proxysort.sorting import By, sort

    counting = _Counting(monkeypatch)
    training = ProxyConfig(mode=mode, epochs=2)
    first = sort(photo_folder, [By("color", words=COLORS, k=3)], model=tiny_clip, training=training, cache_dir=cache_dir)
    assert counting.photos == 12
    again = sort(photo_folder, [By("color", words=COLORS, k=2)], model=tiny_clip, training=training, cache_dir=cache_dir)
    assert counting.photos == 12  # k = 2 learned no photo: every proxy came from the cache
    assert again.concepts[0].k == 2
    assert (again.concepts[0].proxy.feature("prompt") == first.concepts[0].proxy.feature("prompt")).all()


@pytest.mark.parametrize("mode", ROW_CACHED)
def test_another_k_reads_every_proxy_from_the_cache_through_the_cli(
    mode: str, run_cli, photo_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = _Counting(monkeypatch)
    args = ["cluster", str(photo_folder), *WORDS, "--method", mode, "--epochs", "2", "--no-folders", *MODEL]
    first = run_cli([*args, "--k", "3"])
    assert first.exit_code == 0, first.stderr and counting.photos == 12
    second = run_cli([*args, "--k", "2"])
    assert second.exit_code == 0, second.stderr
    assert counting.photos == 12
    assert "proxies: 12 of 12 photos from the cache, 0 to learn" in second.stderr
