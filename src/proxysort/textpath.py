"""The exact CLIP text path with one learnable token: placeholder injection, EOT truncation, prefix KV cache.

A proxy word is a token-embedding row placed where the template has ``*``. CLIP's text encoder is token
embedding + positional embedding → causal transformer → final LayerNorm → row at end-of-text (EOT) →
projection → L2 normalise, and *all* of it has to run for the proxy to mean what CLIP means (the published
research code drops the positional embedding and the final LayerNorm; that changes the model).

Two facts about the causal mask make the path cheap without changing a single output:

* rows after EOT never reach the EOT row, so the sequence can be cut at EOT+1 (77 → ~12 tokens);
* rows before the placeholder are the same for every proxy, so their keys and values in every layer are
  computed once (the prefix cache) and each step only runs the placeholder..EOT rows (2 of them).

Three paths, all returning the same numbers: ``"full"`` (the model's own ``encode_text`` with the embedding
replaced, the reference), ``"truncated"`` and ``"prefix"``. Towers the fast paths cannot prove exact for
(bidirectional mask, non-EOT pooling, class tokens, Hugging Face towers) silently cannot use them, so they
fall back to the full path with one warning through the reporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from proxysort import interrupts
from proxysort.errors import UsageError
from proxysort.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from proxysort.encoders import ClipModel

PLACEHOLDER = "*"
PATHS = ("prefix", "truncated", "full")
#: Up to this many new rows, attention among them is computed elementwise: a batched matmul over
#: thousands of 2×2 products spends more on dispatch than on arithmetic (measured: ~14% of a step).
_FEW_ROWS = 4


@dataclass
class _Tower:
    """The pieces of an open_clip text tower, whichever model class holds them."""

    token_embedding: Any
    positional_embedding: Any
    transformer: Any
    ln_final: Any
    text_projection: Any
    attn_mask: Any
    pool_type: str
    eos_id: int | None
    blocks_supported: bool


def _is_causal(mask: "torch.Tensor | None") -> bool:
    """True when ``mask`` is the additive upper-triangular -inf mask (bool masks are not what open_clip builds)."""
    import torch

    if mask is None or mask.dtype == torch.bool or mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        return False
    upper = torch.ones_like(mask, dtype=torch.bool).triu(1)
    return bool(torch.isneginf(mask[upper]).all()) and bool((mask[~upper] == 0).all())


def _block_supported(block: Any) -> bool:
    """Blocks whose attention :func:`_attend` re-implements exactly (open_clip's two block types)."""
    from open_clip.transformer import Attention, CustomResidualAttentionBlock, ResidualAttentionBlock
    from torch import nn

    if isinstance(block, ResidualAttentionBlock):
        attn = block.attn
        return (
            not hasattr(block, "ln_1_kv")
            and isinstance(attn, nn.MultiheadAttention)
            and attn._qkv_same_embed_dim
            and attn.bias_k is None
            and not attn.add_zero_attn
        )
    # Scaled-cosine attention (Swin v2) is left to the truncated path: open_clip's own version of it
    # cannot run batched 4-D inputs, so there is no reference to be exact against.
    return (
        isinstance(block, CustomResidualAttentionBlock)
        and isinstance(block.attn, Attention)
        and block.attn.logit_scale is None
    )


def _exact_tower(model: Any) -> tuple[_Tower | None, str]:
    """The tower if the truncated path is provably exact for it, else ``None`` and the reason why not."""
    from torch import nn

    tower = getattr(model, "text", None)
    if tower is None:
        tower, pool, eos = model, getattr(model, "text_pool_type", None), getattr(model, "text_eos_id", None)
    else:
        pool, eos = getattr(tower, "pool_type", None), getattr(tower, "eos_id", None)
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection", "attn_mask")
    if not all(hasattr(tower, n) for n in needed) or not isinstance(tower.token_embedding, nn.Embedding):
        return None, "its text tower is not an open_clip text transformer"
    if getattr(tower, "cls_emb", None) is not None or getattr(tower, "use_pad_mask", False):
        return None, "its text tower adds a class token or a padding mask"
    if not _is_causal(tower.attn_mask):
        return None, "its text tower has no causal attention mask"
    if pool not in ("argmax", "eos"):
        return None, f"its text tower pools with {pool!r}, not at the end-of-text token"
    blocks = list(getattr(tower.transformer, "resblocks", []))
    return (
        _Tower(
            token_embedding=tower.token_embedding,
            positional_embedding=tower.positional_embedding,
            transformer=tower.transformer,
            ln_final=tower.ln_final,
            text_projection=tower.text_projection,
            attn_mask=tower.attn_mask,
            pool_type=pool,
            eos_id=eos,
            blocks_supported=bool(blocks) and all(_block_supported(b) for b in blocks),
        ),
        "",
    )


def _input_embedding(model: Any) -> Any:
    """The module that maps token ids to embeddings, for the general (hooked) path."""
    tower = getattr(model, "text", model)
    emb = getattr(tower, "token_embedding", None)
    if emb is None and hasattr(getattr(tower, "transformer", None), "get_input_embeddings"):
        emb = tower.transformer.get_input_embeddings()
    if emb is None:
        raise UsageError(
            "This CLIP model's text tower has no token-embedding layer, so proxy words cannot be injected."
        )
    return emb


def _project(x: "torch.Tensor", projection: Any) -> "torch.Tensor":
    from torch import nn

    if projection is None:
        return x
    return projection(x) if isinstance(projection, nn.Linear) else x @ projection


def _qkv(block: Any, h: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    """Per-head queries, keys and values (B, H, L, hd) of already-normalised rows ``h``."""
    import torch.nn.functional as F

    attn = block.attn
    heads = attn.num_heads
    q, k, v = F.linear(h, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    B, L, C = h.shape
    q, k, v = (t.reshape(B, L, heads, C // heads).transpose(1, 2) for t in (q, k, v))
    if hasattr(attn, "ln_q"):  # open_clip's own Attention: optional QK-norm
        q, k = attn.ln_q(q), attn.ln_k(k)
    return q, k, v


def _attend(
    block: Any,
    q: "torch.Tensor",
    k: "torch.Tensor",
    v: "torch.Tensor",
    cache: tuple["torch.Tensor", "torch.Tensor"] | None,
    mask: "torch.Tensor",
) -> "torch.Tensor":
    """Attention of rows ``q`` over the cached prefix and the new rows, after the block's output projection.

    The cached keys/values (H, p, hd) are shared by the whole batch, so they are contracted with einsum
    instead of being copied once per image (that copy cost more than the attention itself).
    """
    import torch

    attn = block.attn
    B, H, S, hd = q.shape
    few = S <= _FEW_ROWS
    scores = (q.unsqueeze(3) * k.unsqueeze(2)).sum(-1) if few else q @ k.transpose(-1, -2)
    if cache is not None:
        scores = torch.cat([torch.einsum("bhsd,hpd->bhsp", q, cache[0]), scores], dim=-1)
    weights = (scores * hd**-0.5 + mask).softmax(dim=-1)
    p = scores.shape[-1] - k.shape[2]
    x = (weights[..., p:].unsqueeze(-1) * v.unsqueeze(2)).sum(3) if few else weights[..., p:] @ v
    if cache is not None:
        x = x + torch.einsum("bhsp,hpd->bhsd", weights[..., :p], cache[1])
    if getattr(attn, "head_scale", None) is not None:
        x = x * attn.head_scale
    x = x.transpose(1, 2).reshape(B, S, H * hd)
    if hasattr(attn, "ln_inner"):
        x = attn.ln_inner(x)
    return attn.out_proj(x)


def _block_step(
    block: Any,
    x: "torch.Tensor",
    cache: tuple["torch.Tensor", "torch.Tensor"] | None,
    mask: "torch.Tensor",
    *,
    last_only: bool = False,
) -> tuple["torch.Tensor", tuple["torch.Tensor", "torch.Tensor"]]:
    """One residual block on rows ``x`` that follow the cached rows; returns (new x, this call's (k, v)).

    ``last_only`` computes the output of the last row only: in the final layer nothing else is read.
    """
    q, k, v = _qkv(block, block.ln_1(x))
    if last_only:
        q, x, mask = q[:, :, -1:], x[:, -1:], mask[-1:]
    a = _attend(block, q, k, v, cache, mask)
    if hasattr(block, "ln_attn"):
        a = block.ln_attn(a)
    x = x + block.ls_1(a)
    x = x + block.ls_2(block.mlp(block.ln_2(x)))
    return x, (k, v)


class PromptEncoder:
    """Exact CLIP text path for one template containing the placeholder ``*`` (BPE token 265 in CLIP's vocab).

    ``encode`` maps a batch of token-embedding rows to the unit text features of the template with each row
    at the placeholder, differentiably in the rows; CLIP's own parameters stay frozen.
    """

    def __init__(self, clip: "ClipModel", template: str, *, path: str = "prefix", reporter: Reporter | None = None):
        import torch

        if path not in PATHS:
            raise UsageError(f"Unknown text path {path!r}: use one of {', '.join(PATHS)}.")
        self.clip = clip
        self.model: Any = clip.model  # an open_clip model: CLIP, CustomTextCLIP or another class with encode_text
        self.template = template
        self.reporter = reporter or Reporter()
        self.model.requires_grad_(False)
        self._embedding = _input_embedding(self.model)
        self.ids = clip.tokenizer([template]).to(clip.device)  # (1, context)
        self.placeholder_id = self._placeholder_id()
        hits = (self.ids[0] == self.placeholder_id).nonzero().flatten().tolist()
        context = int(self.ids.shape[1])
        if len(hits) != 1 and bool((self.ids[0] != 0).all()):  # no padding left: the tokenizer cut it short
            shown = template if len(template) <= 60 else template[:57] + "..."
            raise UsageError(
                f"The prompt {shown!r} is longer than the {context} tokens CLIP's text encoder reads, so the "
                "placeholder for the learned word was cut off; use a shorter `by` (or `noun`)."
            )
        if len(hits) != 1:
            raise UsageError(
                f"The prompt template {template!r} must contain the placeholder '*' exactly once, as a word of its own."
            )
        self.position = hits[0]
        self.dtype = self._embedding.weight.dtype

        tower, why_not = _exact_tower(self.model)
        self._tower = tower
        if path != "full" and tower is None:
            self.reporter.warning(f"Using the slower full text path: {why_not}.")
            path = "full"
        if path == "prefix" and tower is not None and not tower.blocks_supported:
            self.reporter.warning("Using the truncated text path: this text tower's blocks have no prefix cache.")
            path = "truncated"
        self.path = path
        if tower is not None:
            self.eot = self._eot_position(tower)
            if self.eot <= self.position:
                raise UsageError(f"The prompt template {template!r} is too long: the placeholder falls after the end.")
        if path == "prefix":
            with torch.no_grad():
                self._build_prefix_cache()
        interrupts.check()  # a Ctrl-C swallowed by a destructor while tokenising (regex's __del__) lands here

    # -- tokens ---------------------------------------------------------------------------------------
    def _content_ids(self, text: str) -> list[int]:
        """The BPE ids of ``text`` without start/end/padding tokens."""
        tok = self.clip.tokenizer
        if hasattr(tok, "encode") and hasattr(tok, "sot_token_id"):
            return list(tok.encode(text))
        inner = getattr(tok, "tokenizer", None)
        if inner is not None and hasattr(inner, "encode"):
            return list(inner.encode(text, add_special_tokens=False))
        raise UsageError("This model's tokenizer cannot split words into tokens, so proxy words are not available.")

    def _placeholder_id(self) -> int:
        ids = self._content_ids(PLACEHOLDER)
        if len(ids) != 1:
            raise UsageError("This model's tokenizer does not keep '*' as one token, so proxy words are not available.")
        return int(ids[0])

    @property
    def _exact(self) -> _Tower:
        """The tower's parts for the short paths, which are chosen only when :func:`_exact_tower` found them."""
        if self._tower is None:
            raise RuntimeError("the short text paths need the exact tower, and this model has none")
        return self._tower

    def _eot_position(self, tower: _Tower) -> int:
        """Where the model pools: exactly the rule its ``encode_text`` uses."""
        if tower.pool_type == "argmax" or tower.eos_id is None:
            return int(self.ids[0].argmax())
        hits = self.ids[0].eq(tower.eos_id).nonzero().flatten()
        return int(hits[0]) if len(hits) else 0

    def word_embedding(self, word: str) -> "torch.Tensor":
        """Mean of the word's BPE token-embedding rows (no SOT/EOT): the word as one proxy row."""
        import torch

        ids = self._content_ids(word)
        if not ids:
            raise UsageError(f"The word {word!r} has no tokens; use a word with letters in it.")
        with torch.no_grad():
            rows = self._embedding.weight[torch.tensor(ids, device=self.ids.device)]
        return rows.mean(dim=0)

    def encode_words(self, words: Sequence[str]) -> "torch.Tensor":
        """Unit text features of the template filled with each word: the model's ``encode_text`` of the filled
        prompts, computed on the exact short path when there is one (the same cut at end-of-text and, when
        the word leaves the prefix's tokens alone, the same prefix cache as the proxies use)."""
        import torch

        texts = [self.template.replace(PLACEHOLDER, w, 1) for w in words]
        ids = self.clip.tokenizer(texts).to(self.clip.device)
        with torch.no_grad():
            if self.path == "full" or self._tower is None:
                feats = self.model.encode_text(ids)
            else:
                feats = torch.empty(len(texts), self.clip.embed_dim, device=self.clip.device)
                for (prefixed, eot), rows in self._by_shape(ids).items():
                    feats[rows] = self._encode_filled(ids[rows], eot, prefixed).float()
        return torch.nn.functional.normalize(feats.float(), dim=-1)

    def _by_shape(self, ids: "torch.Tensor") -> dict[tuple[bool, int], list[int]]:
        """Rows of ``ids`` grouped by what they run through: (prefix cache usable, end-of-text position)."""
        groups: dict[tuple[bool, int], list[int]] = {}
        p = self.position
        for i, row in enumerate(ids):
            eot = self._eot_of(row)
            prefixed = self.path == "prefix" and eot >= p and bool((row[:p] == self.ids[0, :p]).all())
            groups.setdefault((prefixed, eot), []).append(i)
        return groups

    def _encode_filled(self, ids: "torch.Tensor", eot: int, prefixed: bool) -> "torch.Tensor":
        """Filled prompts of one shape (B, context) → (B, embed_dim) features, cut after end-of-text ``eot``."""
        tower = self._exact
        p = self.position
        if prefixed:
            x = tower.token_embedding(ids[:, p : eot + 1]) + tower.positional_embedding[p : eot + 1].to(self.dtype)
            mask = tower.attn_mask[p : eot + 1, : eot + 1].to(self.dtype)
            blocks = tower.transformer.resblocks
            for i, (block, kv) in enumerate(zip(blocks, self._cache)):
                x, _ = _block_step(block, x, kv, mask, last_only=i == len(blocks) - 1)
            return self._finish(x[:, -1])
        x = tower.token_embedding(ids[:, : eot + 1]) + tower.positional_embedding[: eot + 1].to(self.dtype)
        x = tower.transformer(x, attn_mask=tower.attn_mask[: eot + 1, : eot + 1])
        return self._finish(x[:, eot])

    def _eot_of(self, ids: "torch.Tensor") -> int:
        """Where the model pools in one token row: exactly the rule its ``encode_text`` uses."""
        if self._exact.pool_type == "argmax" or self._exact.eos_id is None:
            return int(ids.argmax())
        hits = ids.eq(self._exact.eos_id).nonzero().flatten()
        return int(hits[0]) if len(hits) else 0

    # -- the three paths ------------------------------------------------------------------------------
    def encode(self, token_embeddings: "torch.Tensor") -> "torch.Tensor":
        """(B, d_tok) proxy rows → (B, embed_dim) unit text features; differentiable in the rows."""
        import torch

        rows = token_embeddings.to(self.dtype)
        if self.path == "prefix":
            out = self._encode_prefix(rows)
        elif self.path == "truncated":
            out = self._encode_truncated(rows)
        else:
            out = self._encode_full(rows)
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def _embedded(self, rows: "torch.Tensor", length: int) -> "torch.Tensor":
        """Token + positional embeddings of the first ``length`` template rows, proxy rows injected."""
        tower = self._exact
        x = tower.token_embedding(self.ids[:, :length]).expand(rows.shape[0], -1, -1)
        x = _inject(x, rows, self.position)
        return x + tower.positional_embedding[:length].to(x.dtype)

    def _finish(self, eot_row: "torch.Tensor") -> "torch.Tensor":
        return _project(self._exact.ln_final(eot_row), self._exact.text_projection)

    def _encode_full(self, rows: "torch.Tensor") -> "torch.Tensor":
        """The model's own ``encode_text`` on the 77-token prompt, with the embedding output replaced."""
        ids = self.ids.expand(rows.shape[0], -1)
        def replace(_module: Any, _inputs: Any, out: "torch.Tensor") -> "torch.Tensor":
            return _inject(out, rows.to(out.dtype), self.position)

        handle = self._embedding.register_forward_hook(replace)
        try:
            return self.model.encode_text(ids)
        finally:
            handle.remove()

    def _encode_truncated(self, rows: "torch.Tensor") -> "torch.Tensor":
        """Same transformer, sequence cut after EOT: later rows cannot reach the EOT row under a causal mask."""
        length = self.eot + 1
        tower = self._exact
        x = tower.transformer(self._embedded(rows, length), attn_mask=tower.attn_mask[:length, :length])
        return self._finish(x[:, self.eot])

    def _build_prefix_cache(self) -> None:
        """Keys/values of the rows before the placeholder, per layer: identical for every proxy."""
        p = self.position
        tower = self._exact
        x = tower.token_embedding(self.ids[:, :p]) + tower.positional_embedding[:p].to(self.dtype)
        mask = tower.attn_mask[:p, :p]
        self._cache = []
        for block in tower.transformer.resblocks:
            x, (k, v) = _block_step(block, x, None, mask)
            self._cache.append((k[0], v[0]))
        self._suffix_ids = self.ids[:, p : self.eot + 1]
        self._suffix_pos = tower.positional_embedding[p : self.eot + 1].to(self.dtype)
        self._suffix_mask = tower.attn_mask[p : self.eot + 1, : self.eot + 1].to(self.dtype)
        self._suffix_tokens = tower.token_embedding(self._suffix_ids)

    def _encode_prefix(self, rows: "torch.Tensor") -> "torch.Tensor":
        """Run only rows placeholder..EOT through each layer, attending to the cached prefix keys/values."""
        x = _inject(self._suffix_tokens.expand(rows.shape[0], -1, -1), rows, 0) + self._suffix_pos
        blocks = self._exact.transformer.resblocks
        for i, (block, kv) in enumerate(zip(blocks, self._cache)):
            x, _ = _block_step(block, x, kv, self._suffix_mask, last_only=i == len(blocks) - 1)
        return self._finish(x[:, -1])


def _inject(x: "torch.Tensor", rows: "torch.Tensor", position: int) -> "torch.Tensor":
    """``x`` with row ``position`` of every sequence replaced by ``rows`` (out of place, so autograd sees it)."""
    import torch

    return torch.cat([x[:, :position], rows.unsqueeze(1), x[:, position + 1 :]], dim=1)
