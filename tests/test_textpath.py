"""The proxy text path must be CLIP's text path: exact injection, and truncation/prefix cache change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxysort.progress import Reporter
from tests.support.photos import TINY_CONFIG

torch = pytest.importorskip("torch")

TEMPLATE = "a photo of a fruit with a color of *"
PATHS = ("full", "truncated", "prefix")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Recorder(Reporter):
    """A reporter that keeps its warnings."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, text: str) -> None:
        self.warnings.append(text)


def _variant(tmp_path_factory: pytest.TempPathFactory, name: str, *, custom_text: bool = False, **text_cfg) -> Path:
    cfg = json.loads(TINY_CONFIG.read_text())
    cfg["text_cfg"].update(text_cfg)
    if custom_text:
        cfg["custom_text"] = True
    path = tmp_path_factory.mktemp("cfg") / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


def _load(path: Path):
    from proxysort.encoders import ModelSpec, load_clip

    return load_clip(ModelSpec(model=str(path), pretrained="none", device="cpu"))


@pytest.fixture(scope="module")
def variants(tmp_path_factory, tiny_clip):
    """Tiny towers covering open_clip's two model classes and two block types, and EOS pooling."""
    return {
        "clip": tiny_clip,
        "clip-layerscale": _load(_variant(tmp_path_factory, "ls", ls_init_value=0.3)),
        "custom-block": _load(
            _variant(
                tmp_path_factory, "custom", custom_text=True, qk_norm=True, ls_init_value=0.5, scale_attn=True,
                scale_heads=True, scale_attn_inner=True, scale_fc=True,
            )
        ),
        "eos-pool": _load(_variant(tmp_path_factory, "eos", custom_text=True, pool_type="eos", eos_id=49407)),
    }


def _outputs_and_grads(clip, template: str, path: str, rows: "torch.Tensor", target: "torch.Tensor"):
    from proxysort.textpath import PromptEncoder

    enc = PromptEncoder(clip, template, path=path)
    assert enc.path == path
    r = rows.clone().requires_grad_(True)
    h = enc.encode(r)
    (1.0 - (h * target).sum(dim=-1)).sum().backward()  # the alignment loss proxies are trained with
    return h.detach(), r.grad


def _check_exact(clip, template: str = TEMPLATE) -> None:
    from proxysort.textpath import PromptEncoder

    ref = torch.as_tensor(clip.encode_texts([template.replace("*", "red")]))
    for path in PATHS:
        enc = PromptEncoder(clip, template, path=path)
        assert (enc.encode(enc.word_embedding("red")[None]) - ref).abs().max().item() <= 1e-5, path

    gen = torch.Generator().manual_seed(3)
    d_tok = enc.word_embedding("red").shape[0]
    rows = torch.randn(6, d_tok, generator=gen) * 0.02
    target = torch.nn.functional.normalize(torch.randn(6, clip.embed_dim, generator=gen), dim=-1)
    out_full, grad_full = _outputs_and_grads(clip, template, "full", rows, target)
    assert grad_full.abs().max() > 0
    for path in ("truncated", "prefix"):
        out, grad = _outputs_and_grads(clip, template, path, rows, target)
        assert (out - out_full).abs().max().item() <= 1e-5, path
        assert (grad - grad_full).abs().max().item() <= 1e-5, path
    assert all(p.grad is None for p in clip.model.parameters())


@pytest.mark.parametrize("name", ["clip", "clip-layerscale", "custom-block", "eos-pool"])
def test_paths_are_exact_on_tiny_towers(variants, name):
    _check_exact(variants[name])


@pytest.mark.parametrize("template", ["* fruit", "a photo of a * fruit on a wooden kitchen table", "*"])
def test_paths_are_exact_wherever_the_placeholder_is(tiny_clip, template):
    """Few rows after the placeholder take the elementwise attention, many take the batched one."""
    _check_exact(tiny_clip, template)


def test_paths_are_exact_on_full_size_vit_b_32():
    from proxysort.encoders import ModelSpec, load_clip

    _check_exact(load_clip(ModelSpec("ViT-B-32", "none", "cpu")))


def test_truncation_and_prefix_are_the_expected_lengths(tiny_clip):
    from proxysort.textpath import PromptEncoder

    enc = PromptEncoder(tiny_clip, TEMPLATE)
    ids = enc.ids[0].tolist()
    assert ids[enc.position] == 265 == enc.placeholder_id  # '*' is BPE token 265 in CLIP's vocabulary
    assert ids[enc.eot] == max(ids)  # EOT: where open_clip's argmax pooling reads
    assert enc.eot == enc.position + 1
    assert len(enc._cache) == len(tiny_clip.model.transformer.resblocks)
    assert enc._cache[0][0].shape[1] == enc.position  # keys of exactly the rows before the placeholder


def test_non_causal_tower_falls_back_to_full_path_with_a_warning(tmp_path_factory):
    from proxysort.textpath import PromptEncoder

    clip = _load(_variant(tmp_path_factory, "bidir", custom_text=True, no_causal_mask=True, pool_type="last"))
    rec = Recorder()
    enc = PromptEncoder(clip, TEMPLATE, path="prefix", reporter=rec)
    assert enc.path == "full"
    assert len(rec.warnings) == 1 and "causal" in rec.warnings[0]
    ref = torch.as_tensor(clip.encode_texts([TEMPLATE.replace("*", "red")]))
    assert (enc.encode(enc.word_embedding("red")[None]) - ref).abs().max().item() <= 1e-5


def test_word_embedding_is_the_mean_of_its_bpe_rows(tiny_clip):
    from proxysort.textpath import PromptEncoder

    enc = PromptEncoder(tiny_clip, TEMPLATE)
    ids = tiny_clip.tokenizer.encode("zxqvbnm")
    assert len(ids) > 1
    table = tiny_clip.model.token_embedding.weight
    assert torch.allclose(enc.word_embedding("zxqvbnm"), table[ids].mean(dim=0))


def test_encode_words_matches_encode_text(tiny_clip):
    from proxysort.textpath import PromptEncoder

    words = ["red", "light green", "ultramarine"]
    feats = PromptEncoder(tiny_clip, TEMPLATE).encode_words(words)
    ref = torch.as_tensor(tiny_clip.encode_texts([TEMPLATE.replace("*", w) for w in words]))
    assert torch.allclose(feats, ref, atol=1e-6)
    assert torch.allclose(feats.norm(dim=-1), torch.ones(3))


@pytest.mark.parametrize("template", ["a photo of a fruit", "a * of a *", "a photo of *.", "a photo of **"])
def test_template_needs_exactly_one_standalone_placeholder(tiny_clip, template):
    from proxysort.errors import UsageError
    from proxysort.textpath import PromptEncoder

    with pytest.raises(UsageError, match="placeholder"):
        PromptEncoder(tiny_clip, template)


def test_unknown_path_is_a_usage_error(tiny_clip):
    from proxysort.errors import UsageError
    from proxysort.textpath import PromptEncoder

    with pytest.raises(UsageError, match="text path"):
        PromptEncoder(tiny_clip, TEMPLATE, path="fast")
