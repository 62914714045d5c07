"""The number format the image encoder runs in: declared once here, chosen by measurement on ``auto``.

Why measure instead of trusting the CPU's flags: bf16 pays only where the matrix units exist. On an Intel
Xeon with AMX-BF16 a bf16 ViT-B-32 uses ~5x less CPU than fp32 (issue 25), but on a Xeon that reports
only ``avx512_bf16`` (no AMX; this project's 2-core machine) the same model in bf16 is ~1.4x *slower* than
fp32 (``benchmarks/results/index-precision.md``). So ``auto`` on a CPU tries bf16 only where the flags
promise it, and keeps it only if a short timing of the encoder's typical matrix product agrees.

Only the image tower runs reduced: the text path learns proxies by gradient and must stay exact. The
vectors it gives are converted to float32 before they leave the encoder, so every caller still sees
unit-norm float32 features.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from proxysort.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

AUTO = "auto"
#: Every precision the encoder can run in, and the torch dtype name of each.
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
#: What ``precision`` accepts.
CHOICES = (AUTO, *DTYPES)
#: ``/proc/cpuinfo`` flags of CPUs with bf16 matrix instructions (AMX tiles, or AVX-512 BF16 dot products).
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
#: bf16 is kept on a CPU only when it is at least this much faster than fp32 on the probe: a gain inside the
#: noise of a shared machine is not worth vectors that differ from fp32 in the fourth decimal.
MIN_GAIN = 1.25


def check(precision: str | None) -> str:
    """``precision`` lower-cased and validated (None means ``auto``); one sentence on a wrong value."""
    value = (precision or AUTO).strip().lower()
    if value not in CHOICES:
        raise UsageError(f"`precision` must be one of {', '.join(CHOICES)} (got {precision!r}).")
    return value


def follow(asked: str, stored: str | None) -> str:
    """The precision to embed in for a store that holds vectors in ``stored`` (None: no vectors yet):
    ``auto`` follows the store, so its vectors stay of one kind without re-embedding any; another
    explicit precision is refused, since it would mix two kinds in one store."""
    if stored is None or asked == stored:
        return asked
    if asked == AUTO:
        return stored
    raise UsageError(
        f"The cache for this model holds vectors embedded in {stored}; `precision` {asked} would mix two "
        f"precisions in it. Use `precision` {stored} or auto, or another `cache_dir`."
    )


def dtype(precision: str) -> "torch.dtype":
    """The torch dtype of a concrete precision (not ``auto``)."""
    import torch

    return getattr(torch, DTYPES[precision])


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where there is no ``/proc/cpuinfo`` to read."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def choose(device: "torch.device", visual: "torch.nn.Module | None" = None, flags: frozenset[str] | None = None) -> str:
    """What ``auto`` means on ``device`` for the image tower ``visual``: fp16 on CUDA (every CUDA GPU has
    fp16 matrix units), bf16 on a CPU whose flags promise bf16 matrix instructions *and* where
    :func:`bf16_gain` measures them worth it on ``visual``, fp32 everywhere else."""
    if device.type == "cuda":
        return "fp16"
    if device.type != "cpu" or visual is None:
        return "fp32"
    flags = cpu_flags() if flags is None else flags
    if not flags & BF16_FLAGS:
        return "fp32"
    return "bf16" if bf16_gain(visual) >= MIN_GAIN else "fp32"


def bf16_gain(visual: "torch.nn.Module", rounds: int = 3) -> float:
    """fp32 time / bf16 time of ``visual``'s first transformer block on this CPU (higher: bf16 faster).

    A bare matrix product is not enough: on a CPU without AMX it can be faster in bf16 while the whole
    block (layer norms, attention, GELU, conversions) is slower. One block of a ViT-B-32 on 2 photos' tokens
    costs ~1/12 of encoding them, so the probe takes well under a second, once per new store. It counts one
    thread's CPU time, not the wall clock nor the process's CPU time: on the shared 2-core machine the
    wall-clock ratio swung from 0.5 to 1.5 between runs, and the process's CPU time included OpenMP threads
    spinning while idle (tiny models measured anywhere from 0.02 to 14); one thread's CPU time gave
    0.63-0.72 for ViT-B-32 and 0.42-0.51 for the tests' tiny model over repeated probes. Rounds alternate the
    two formats and the fastest of each is kept. A tower that is not a transformer of blocks is timed whole
    on one image.
    """
    import copy

    import torch

    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks:
        block = blocks[0]
        width = int(getattr(visual.transformer, "width", 0) or next(block.parameters()).shape[-1])
        tokens = int(getattr(visual, "positional_embedding", torch.zeros(50, 1)).shape[0])
        batch_first = bool(getattr(visual.transformer, "batch_first", True))
        shape: tuple[int, ...] = (2, tokens, width) if batch_first else (tokens, 2, width)
    else:
        block = visual
        size = getattr(visual, "image_size", 224)
        size = size if isinstance(size, int) else int(size[0])
        shape = (1, 3, size, size)
    x32 = torch.randn(*shape)
    b32 = copy.deepcopy(block).float()
    b16 = copy.deepcopy(block).bfloat16()
    best = {"fp32": float("inf"), "bf16": float("inf")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread's own CPU time: OpenMP threads spinning while idle would count too
    try:
        with torch.inference_mode():
            b16(x32.bfloat16())  # first calls build kernels and caches: not timed
            b32(x32)
            for _ in range(rounds):
                for name, (module, x) in (("fp32", (b32, x32)), ("bf16", (b16, x32.bfloat16()))):
                    best[name] = min(best[name], _cpu_per_call(module, x))
    finally:
        torch.set_num_threads(threads)
    return best["fp32"] / max(best["bf16"], 1e-9)


def _cpu_per_call(module: "torch.nn.Module", x: "torch.Tensor", at_least: float = 0.005) -> float:
    """This thread's CPU seconds per ``module(x)``, calling it until ``at_least`` seconds are spent: one call
    of a tiny model's block lasts microseconds, and a single such timing let the noise pick bf16 for the
    tests' 32-wide model."""
    calls, start = 0, time.thread_time()
    while True:
        module(x)
        calls += 1
        spent = time.thread_time() - start
        if spent >= at_least:
            return spent / calls
