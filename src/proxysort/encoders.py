"""Loading a CLIP model (built-in name or custom config; hub tag, local weights file, or random) and
encoding images and texts with it.

Every failure a user can cause — an unknown model or tag, a missing weights file, no network and no
cached weights — becomes a :class:`~proxysort.errors.ModelLoadError` with one sentence saying what to do.
open_clip and torch are imported inside functions so the CLI's ``--help`` never pays for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from proxysort.errors import ModelLoadError, UsageError
from proxysort.precision import AUTO
from proxysort.precision import check as check_precision

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from proxysort.progress import Reporter

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
#: ``--pretrained`` values that ask for seeded random weights (tests, benchmarks, smoke runs).
RANDOM_WEIGHTS = ("none", "random")
_WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".npz", ".ckpt")
_PARTIAL_HASH_BYTES = 1 << 20


def _partial_file_hash(path: Path) -> str:
    """Size plus the first and last MiB: identifies a weights file without reading 600 MB each run."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(_PARTIAL_HASH_BYTES))
        if size > 2 * _PARTIAL_HASH_BYTES:
            f.seek(size - _PARTIAL_HASH_BYTES)
            h.update(f.read(_PARTIAL_HASH_BYTES))
    return h.hexdigest()[:12]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


@dataclass(frozen=True)
class ModelSpec:
    """What the user asked for: model (name or config path), weights (tag, file, or random), device, and
    the image encoder's precision (:mod:`proxysort.precision`; not part of the identity: a store records
    the precision of its vectors instead, see :meth:`VectorStore.precision`)."""

    model: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    device: str = "auto"
    precision: str = AUTO

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", check_precision(self.precision))  # a wrong value fails first

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> "ModelSpec":
        """Defaults, overridden by ``PROXYSORT_MODEL/PRETRAINED/DEVICE/PRECISION`` in ``env`` (an
        :attr:`Environment.vars`), overridden by explicit values that are not None."""
        values: dict[str, Any] = {
            "model": env.get("PROXYSORT_MODEL") or DEFAULT_MODEL,
            "pretrained": env.get("PROXYSORT_PRETRAINED") or DEFAULT_PRETRAINED,
            "device": env.get("PROXYSORT_DEVICE") or "auto",
            "precision": env.get("PROXYSORT_PRECISION") or AUTO,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def is_config_file(self) -> bool:
        return self.model.endswith(".json") or os.sep in self.model or Path(self.model).is_file()

    @property
    def random_weights(self) -> bool:
        return self.pretrained is None or self.pretrained.lower() in RANDOM_WEIGHTS

    @property
    def is_weights_file(self) -> bool:
        p = self.pretrained or ""
        return (not self.random_weights) and (
            os.sep in p or p.endswith(_WEIGHT_SUFFIXES) or Path(p).is_file()
        )

    def identity(self) -> str:
        """A stable, filesystem-safe key for the (architecture, weights) pair.

        Vectors from different models are never mixed: the vector store is keyed by this string.
        Config files and weight files are keyed by content, so editing either starts a fresh store.
        """
        if self.is_config_file:
            path = Path(self.model).expanduser()
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            except OSError as exc:
                raise ModelLoadError(f"Cannot read model config {path}: {exc.strerror or exc}.") from exc
            arch = f"{_slug(path.stem)}-{digest}"
        else:
            arch = _slug(self.model)
        if self.random_weights:
            weights = "random"
        elif self.is_weights_file:
            path = Path(self.pretrained or "").expanduser()
            if not path.is_file():
                raise ModelLoadError(
                    f"Weights file {path} does not exist. Pass an existing file or an open_clip tag to `pretrained`."
                )
            weights = f"file-{_partial_file_hash(path)}"
        else:
            weights = _slug(self.pretrained or "")
        return f"{arch}@{weights}"


@dataclass
class ClipModel:
    """A loaded, frozen CLIP model with the helpers every stage needs."""

    spec: ModelSpec
    identity: str
    model_name: str
    model: Any  # an open_clip model (CLIP, CustomTextCLIP, ...): encode_image and encode_text, no common base
    preprocess: Callable[[Any], "torch.Tensor"]
    tokenizer: Callable[..., "torch.Tensor"]
    device: "torch.device"
    image_size: int
    embed_dim: int
    config: dict[str, Any] = field(default_factory=dict)
    #: the image tower's precision: ``auto`` until :meth:`settle_precision` (or the first image) fixes it
    precision: str = AUTO

    def settle_precision(self, stored: str | None = None) -> str:
        """Fix the image tower's precision, once, and return it: the one asked for, or for ``auto`` the
        precision of a store's vectors (``stored``) or else :func:`proxysort.precision.choose`'s pick for
        this machine. Lazy because choosing measures (a fraction of a second) and a run that embeds no
        photo should not pay for it. Only the image tower changes: the text path's proxy learning needs
        fp32 gradients and exact texts."""
        from proxysort.precision import choose, dtype, follow

        settled = follow(self.precision, stored)
        if settled == AUTO:
            settled = choose(self.device, getattr(self.model, "visual", None))
        visual = getattr(self.model, "visual", None)
        if visual is not None:
            visual.to(dtype(settled))  # nothing to do when it is in that format already
        self.precision = settled
        return settled

    def encode_images(self, batch: "torch.Tensor") -> "np.ndarray":
        """Unit-norm float32 image features for a preprocessed batch (B×3×H×W), whatever :attr:`precision`
        the image tower runs in."""
        import torch

        from proxysort.precision import dtype

        precision = self.settle_precision() if self.precision == AUTO else self.precision
        with torch.inference_mode():
            feats = self.model.encode_image(batch.to(self.device, dtype=dtype(precision), non_blocking=True))
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy()

    def encode_texts(self, texts: list[str]) -> "np.ndarray":
        """Unit-norm float32 text features, the reference the proxy engine must reproduce exactly."""
        import torch

        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode():
            feats = self.model.encode_text(tokens)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy()


def resolve_device(device: str = "auto") -> "torch.device":
    """``auto`` picks CUDA when torch sees a GPU, otherwise the CPU."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("`device` cuda was asked for, but torch sees no CUDA GPU on this machine. Use `device` cpu.")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"Unknown device {device!r}: use auto, cpu or cuda.") from exc


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """open_clip reports failures through ``logging.error`` before raising; we report them ourselves."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def _register_config(path: Path) -> tuple[str, dict[str, Any]]:
    """Register a custom open_clip config JSON under a content-unique name and return that name."""
    import open_clip

    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"Model config {path} does not exist.") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Model config {path} is not readable JSON: {exc}.") from exc
    if not isinstance(cfg, dict) or "vision_cfg" not in cfg or "text_cfg" not in cfg or "embed_dim" not in cfg:
        raise ModelLoadError(
            f"Model config {path} is not an open_clip model config (it needs embed_dim, vision_cfg and text_cfg)."
        )
    name = f"proxysort-custom-{hashlib.sha256(path.read_bytes()).hexdigest()[:10]}"
    tmpdir = Path(tempfile.mkdtemp(prefix="proxysort-cfg-"))
    (tmpdir / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmpdir / f"{name}.json")
    return name, cfg


def check_weights(spec: ModelSpec, env: Mapping[str, str], reporter: "Reporter | None" = None) -> None:
    """Before any scan: fail at once when ``spec``'s weights cannot be had (a missing local file, no
    network and nothing cached), and download hub weights now, announced, when they are missing.
    Cheap (no torch import); see :mod:`proxysort.weights`."""
    spec.identity()  # a missing config or weights file raises here
    if spec.is_config_file or spec.random_weights or spec.is_weights_file:
        return
    from proxysort.weights import ensure_weights

    ensure_weights(spec.model, spec.pretrained or "", env, reporter)


def _tokenizer(open_clip: Any, model_name: str, cfg: dict[str, Any]) -> Callable[..., "torch.Tensor"]:
    """The model's tokenizer, built at most once per process. Importing open_clip already builds its default
    BPE tokenizer (``open_clip.tokenizer._tokenizer``, ~0.5 s of a re-run) and ``get_tokenizer`` would build
    an identical one again; a model whose text tower asks for nothing else (no Hugging Face tokenizer, no
    tokenizer options, not SigLIP, the default context length) takes the one already built."""
    text = cfg.get("text_cfg") or {}
    module = getattr(open_clip, "tokenizer", None)
    built = getattr(module, "_tokenizer", None)
    simple = getattr(module, "SimpleTokenizer", None)
    plain = not text.get("hf_tokenizer_name") and not text.get("tokenizer_kwargs") and "siglip" not in model_name.lower()
    if (plain and simple is not None and isinstance(built, simple)
            and text.get("context_length", built.context_length) == built.context_length):
        return built
    return open_clip.get_tokenizer(model_name)


def load_clip(
    spec: ModelSpec | None = None, *, env: Mapping[str, str] | None = None, reporter: "Reporter | None" = None
) -> ClipModel:
    """Build the model described by ``spec`` with every parameter frozen.

    Says ``loading model …`` on ``reporter`` first: with real weights this takes seconds, during which a
    progress bar behind it would stand still at 0.

    Random weights are seeded (``torch.manual_seed(0)``) so a "random" model is the same model on every
    run, which keeps its vector store valid between runs and makes tests reproducible.
    """
    import open_clip
    import torch

    if env is None:
        from proxysort.env import Environment

        env = Environment().vars
    spec = spec or ModelSpec.from_env(env)
    identity = spec.identity()
    device = resolve_device(spec.device)
    if reporter is not None:
        weights = "random weights" if spec.random_weights else Path(spec.pretrained or "").name
        shown = Path(spec.model).name if spec.is_config_file else spec.model
        reporter.message(f"loading model {shown} ({weights}) on {device.type} ...")

    if spec.is_config_file:
        model_name, cfg = _register_config(Path(spec.model).expanduser())
    else:
        model_name = spec.model
        if model_name not in open_clip.list_models():
            raise ModelLoadError(
                f"Unknown model {model_name!r}. Use an open_clip model name such as {DEFAULT_MODEL} "
                "(see `python -c 'import open_clip; print(open_clip.list_models())'`) or a path to a config JSON."
            )
        cfg = open_clip.get_model_config(model_name) or {}

    pretrained: str | None
    if spec.random_weights:
        pretrained = None
    elif spec.is_weights_file:
        pretrained = str(Path(spec.pretrained or "").expanduser())
    else:
        pretrained = spec.pretrained
        tags = open_clip.list_pretrained_tags_by_model(model_name) if not spec.is_config_file else []
        if pretrained not in tags:
            hint = f"Known tags for {model_name}: {', '.join(tags)}." if tags else "Pass a local weights file."
            raise ModelLoadError(f"Unknown weights {pretrained!r} for model {spec.model!r}. {hint}")

    torch.manual_seed(0)
    try:
        with _quiet_open_clip():
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=device
            )
    except ModelLoadError:
        raise
    except Exception as exc:  # open_clip raises bare RuntimeErrors for every kind of load failure
        if pretrained is not None and not spec.is_weights_file:
            from proxysort.weights import cached_file, hub_weights, unavailable_message

            where = hub_weights(model_name, pretrained)
            found = cached_file(where, env) if where is not None else None
            if found is not None:  # there, but not loadable: a truncated or corrupted download
                raise ModelLoadError(
                    f"Weights {spec.model}/{pretrained} are in the cache but could not be loaded "
                    f"({str(exc).splitlines()[0][:160]}). Delete {found.parents[2] if 'snapshots' in found.parts else found} "
                    "to download them again."
                ) from exc
            raise ModelLoadError(unavailable_message(spec.model, pretrained, env)) from exc
        if spec.is_weights_file:
            raise ModelLoadError(
                f"Weights file {pretrained} does not fit model {spec.model!r} or is not a checkpoint: "
                f"{str(exc).splitlines()[0][:200]}"
            ) from exc
        raise ModelLoadError(f"Could not build model {spec.model!r}: {str(exc).splitlines()[0][:200]}") from exc

    model.eval()
    model.requires_grad_(False)
    image_size = int(cfg.get("vision_cfg", {}).get("image_size", 224))
    embed_dim = int(cfg.get("embed_dim", 512))
    clip = ClipModel(
        spec=spec,
        identity=identity,
        model_name=model_name,
        model=model,
        preprocess=preprocess,
        tokenizer=_tokenizer(open_clip, model_name, cfg),
        device=device,
        image_size=image_size,
        embed_dim=embed_dim,
        config=cfg,
        precision=spec.precision,
    )
    if spec.precision != AUTO:
        clip.settle_precision()  # asked for by name: no measuring, so at once
    return clip



def return_freed_memory() -> None:
    """Give the heap pages freed since (a model let go) back to the system, where the C library allows it.

    Why: glibc keeps freed memory in the process once later allocations sit above it, so a model of ~0.6 GB
    let go after learning stays resident; the N-sized work after it (k-means, names, the tree's plan, most of
    it Python objects in their own arenas) would not reuse it (measured at 100k photos: 1499 → 989 MB). A no-op
    where ``malloc_trim`` does not exist (macOS, musl)."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library already loaded (no search, no subprocess)
    except (OSError, AttributeError):
        return
    trim(0)
