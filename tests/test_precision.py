"""The image encoder's precision: choosing it, following a store, and vectors that match fp32.

The equality bar of issue 25: every test image's vector in a reduced precision has cosine >= 0.999 to its
fp32 vector, on the tiny random model and on both trained miniworld models, and a miniworld world clusters
identically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from miniworld.worlds import get_world
from proxysort import precision
from proxysort.encoders import ModelSpec, load_clip
from proxysort.errors import ExitCode, UsageError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REDUCED = ("bf16", "fp16")
MIN_COSINE = 0.999


# -- choosing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [(None, "auto"), ("AUTO", "auto"), (" bf16 ", "bf16"), ("fp16", "fp16")])
def test_check_accepts_the_choices(given: str | None, expected: str) -> None:
    assert precision.check(given) == expected


def test_a_wrong_precision_is_one_sentence_naming_the_parameter() -> None:
    with pytest.raises(UsageError) as err:
        ModelSpec(precision="fp8")
    assert "`precision`" in str(err.value) and "bf16" in str(err.value)
    assert err.value.exit_code == ExitCode.USAGE


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    assert {"avx512_bf16", "amx_tile"} <= precision.cpu_flags(info)
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()


def test_auto_is_fp16_on_cuda_and_fp32_without_bf16_flags(monkeypatch: pytest.MonkeyPatch, tiny_clip) -> None:
    import torch

    def no_probe(*args: object, **kwargs: object) -> float:
        raise AssertionError("a CPU without bf16 instructions must not be measured")

    monkeypatch.setattr(precision, "bf16_gain", no_probe)
    assert precision.choose(torch.device("cuda")) == "fp16"
    assert precision.choose(torch.device("cpu"), tiny_clip.model.visual, flags=frozenset({"avx2", "avx512f"})) == "fp32"


@pytest.mark.parametrize("gain, expected", [(5.0, "bf16"), (precision.MIN_GAIN, "bf16"), (1.1, "fp32"), (0.7, "fp32")])
def test_auto_keeps_bf16_only_where_it_measures_faster(
    monkeypatch: pytest.MonkeyPatch, tiny_clip, gain: float, expected: str
) -> None:
    import torch

    monkeypatch.setattr(precision, "bf16_gain", lambda visual: gain)
    assert precision.choose(torch.device("cpu"), tiny_clip.model.visual, flags=frozenset({"amx_bf16"})) == expected


def test_the_probe_measures_without_touching_the_model_or_the_threads(tiny_clip) -> None:
    import torch

    before = {k: v.clone() for k, v in tiny_clip.model.visual.state_dict().items()}
    threads = torch.get_num_threads()
    gain = precision.bf16_gain(tiny_clip.model.visual)
    assert np.isfinite(gain) and gain > 0
    assert torch.get_num_threads() == threads
    after = tiny_clip.model.visual.state_dict()
    assert all(after[k].dtype == v.dtype and bool((after[k] == v).all()) for k, v in before.items())


@pytest.mark.parametrize(
    "asked, stored, expected",
    [("auto", None, "auto"), ("bf16", None, "bf16"), ("auto", "bf16", "bf16"), ("fp32", "fp32", "fp32")],
)
def test_follow_keeps_one_precision_per_store(asked: str, stored: str | None, expected: str) -> None:
    assert precision.follow(asked, stored) == expected


def test_follow_refuses_to_mix_and_says_what_to_do() -> None:
    with pytest.raises(UsageError) as err:
        precision.follow("fp32", "bf16")
    message = str(err.value)
    assert "`precision` fp32" in message and "bf16" in message and "`cache_dir`" in message


# -- the model ------------------------------------------------------------------------------------------


def test_auto_is_settled_by_the_first_image_not_by_loading(tiny_spec) -> None:
    import torch

    clip = load_clip(tiny_spec)
    assert clip.precision == "auto"  # loading alone measures nothing
    clip.encode_images(torch.rand(2, 3, clip.image_size, clip.image_size))
    assert clip.precision in ("fp32", "bf16")


@pytest.mark.parametrize("name", REDUCED)
def test_a_named_precision_is_the_image_towers_and_only_its(tiny_spec, tiny_clip, name: str) -> None:
    import torch

    clip = load_clip(ModelSpec(tiny_spec.model, tiny_spec.pretrained, "cpu", name))
    assert clip.precision == name
    assert {p.dtype for p in clip.model.visual.parameters()} == {precision.dtype(name)}
    assert {p.dtype for p in clip.model.transformer.parameters()} == {torch.float32}  # the text path is exact
    np.testing.assert_array_equal(clip.encode_texts(["a red apple"]), tiny_clip.encode_texts(["a red apple"]))


def _test_images(root: Path) -> list[Path]:
    """Every kind of test image: the colour photos of the shared fixtures and noise of several sizes."""
    from PIL import Image

    from tests.support.photos import make_photo

    paths = [make_photo(root / f"c{i}.png", c, size=(64 + i, 48)) for i, c in enumerate([(220, 20, 20), (20, 200, 20), (20, 20, 220), (240, 240, 240), (5, 5, 5)])]
    rng = np.random.default_rng(0)
    for i, size in enumerate([(32, 32), (97, 61), (300, 200)]):
        path = root / f"noise{i}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _encode(clip, paths: list[Path]) -> np.ndarray:
    from benchmarks.quality import encode_images

    return encode_images(clip, paths)


@pytest.mark.parametrize("name", REDUCED)
def test_tiny_model_vectors_match_fp32(tmp_path: Path, tiny_spec, name: str) -> None:
    paths = _test_images(tmp_path)
    ref = _encode(load_clip(ModelSpec(tiny_spec.model, tiny_spec.pretrained, "cpu", "fp32")), paths)
    got = _encode(load_clip(ModelSpec(tiny_spec.model, tiny_spec.pretrained, "cpu", name)), paths)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * ref).sum(1).min() >= MIN_COSINE


@pytest.mark.parametrize("world_name", ["shapes", "glyphs"])
def test_miniworld_vectors_match_fp32_and_cluster_identically(tmp_path: Path, world_name: str) -> None:
    """Both trained models, 60 photos of their world: every photo's vector within the bar, and k-means on
    the vectors (the photos' own structure) gives the same partition in every precision."""
    from proxysort.groups import kmeans
    from proxysort.metrics import score_all

    world = get_world(world_name)
    samples = world.write_folder(tmp_path, 60, 3)
    paths = [tmp_path / "images" / f"{i:05d}.png" for i in range(len(samples))]
    ref = _encode(load_clip(ModelSpec(str(world.config), str(world.weights), "cpu", "fp32")), paths)
    ref_labels = kmeans(ref, 4, seed=0, spherical=True).labels
    for name in REDUCED:
        got = _encode(load_clip(ModelSpec(str(world.config), str(world.weights), "cpu", name)), paths)
        assert (got * ref).sum(1).min() >= MIN_COSINE, name
        labels = kmeans(got, 4, seed=0, spherical=True).labels
        assert score_all(ref_labels, labels)["nmi"] == pytest.approx(1.0), name


def test_shapes_world_sorts_identically_in_bf16(tmp_path: Path, cache_dir: Path) -> None:
    """The whole product path (index, learned proxies, k-means) on 120 photos of the shapes world: the
    bf16 sort by colour is the fp32 sort, group for group, and scores the same NMI against the truth."""
    from proxysort.metrics import score_all
    from proxysort.proxy import ProxyConfig
    from proxysort.sorting import By, sort

    world = get_world("shapes")
    samples = world.write_folder(tmp_path / "world", 120, 12)
    truth = [s.attrs()["color"] for s in samples]
    results = {}
    for name in ("fp32", "bf16"):
        spec = ModelSpec(str(world.config), str(world.weights), "cpu", name)
        result = sort(tmp_path / "world" / "images", [By("color", words=list(world.candidates["color"]), k=6)],
                      model=spec, cache_dir=tmp_path / f"cache-{name}", training=ProxyConfig(seed=0))
        assert result.index.precision == name
        results[name] = result.concepts[0].labels
    assert score_all(results["fp32"], results["bf16"])["nmi"] == pytest.approx(1.0)
    assert score_all(truth, results["bf16"])["nmi"] == pytest.approx(score_all(truth, results["fp32"])["nmi"])
