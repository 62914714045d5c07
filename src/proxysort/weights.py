"""Can the model's weights be had? Answered *before* any scan, and without importing torch or open_clip.

Loading open_clip costs seconds (it imports torch); a user with no cached weights and no network should
hear so at once, not after a folder scan and a model import. So this module reads open_clip's table of
pretrained tags from its source with :mod:`ast` (no code runs), looks for the file in the Hugging Face
hub cache or open_clip's URL cache, and, when the file must be downloaded, says so once with its size and
fetches it with a progress bar before the scan starts. Anything it cannot tell (a model open_clip does not
list, a changed table layout) is left to :func:`proxysort.encoders.load_clip`, which stays the authority.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from proxysort.errors import ModelLoadError
from proxysort.progress import Reporter

#: open_clip's default file names for a hub repo given without a file (``'org/name/'``).
_HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"
_HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"


@dataclass(frozen=True)
class HubWeights:
    """Where open_clip fetches one (model, tag): a hub repo and the file names it tries, in order."""

    repo: str
    filenames: tuple[str, ...]
    url: str = ""


def offline(env: Mapping[str, str]) -> bool:
    """True when the Hugging Face hub is told not to use the network."""
    return any(env.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def unavailable_message(model: str, tag: str, env: Mapping[str, str]) -> str:
    """The one sentence for weights that are neither cached nor downloadable."""
    where = "the machine is offline (HF_HUB_OFFLINE is set)" if offline(env) else "the download failed"
    return (
        f"Weights {model}/{tag} are not in the local cache and {where}. Connect once to "
        "download them, or pass a local weights file with `pretrained` PATH."
    )


def _open_clip_dir() -> Path | None:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _literal(node: ast.AST, names: dict[str, Any]) -> Any:
    """Evaluate the small subset of Python open_clip's table is written in; None for anything else."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Dict):
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values) if k is not None}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        kwargs = {kw.arg: _literal(kw.value, names) for kw in node.keywords if kw.arg}
        if node.func.id == "dict":
            return kwargs
        if node.func.id.startswith("_"):  # _pcfg(url='', hf_hub='', **kwargs) and its siblings
            positional = dict(zip(("url", "hf_hub"), (_literal(a, names) for a in node.args)))
            return {**positional, **kwargs}
    return None


@functools.lru_cache(maxsize=1)
def _pretrained_table() -> dict[str, dict[str, dict[str, Any]]]:
    """open_clip's ``_PRETRAINED`` (model -> tag -> cfg), read from ``open_clip/pretrained.py`` unexecuted."""
    folder = _open_clip_dir()
    if folder is None:
        return {}
    try:
        tree = ast.parse((folder / "pretrained.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    names: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            names[stmt.targets[0].id] = _literal(stmt.value, names)
    table = names.get("_PRETRAINED")
    if not isinstance(table, dict):
        return {}
    table = {m: t for m, t in table.items() if isinstance(m, str) and isinstance(t, dict)}
    # open_clip adds '<model>-quickgelu' for every tag trained with QuickGELU.
    for model, tags in list(table.items()):
        quick = {t: c for t, c in tags.items() if isinstance(c, dict) and c.get("quick_gelu")}
        if quick:
            table[f"{model}-quickgelu"] = quick
    return table


def hub_weights(model: str, tag: str) -> HubWeights | None:
    """Where open_clip would fetch ``model``/``tag`` from, or None when this module cannot tell."""
    cfg = _pretrained_table().get(model, {}).get(tag.lower().replace("-", "_"))
    if not isinstance(cfg, dict):
        return None
    hub = cfg.get("hf_hub") or ""
    url = cfg.get("url") or ""
    if not hub:
        return HubWeights("", (), url) if url else None
    repo, filename = os.path.split(hub)
    filename = filename or _HF_WEIGHTS_NAME
    safe = [_HF_SAFE_WEIGHTS_NAME] if filename == _HF_WEIGHTS_NAME else []
    if filename != _HF_WEIGHTS_NAME and filename.endswith((".bin", ".pth")):
        safe = [filename[:-4] + ".safetensors"]
    return HubWeights(repo, (*safe, filename), url)


def hub_cache_dir(env: Mapping[str, str]) -> Path:
    """The Hugging Face hub cache that open_clip downloads into, as ``env`` sets it."""
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def cached_file(weights: HubWeights, env: Mapping[str, str]) -> Path | None:
    """The weights file already on this machine, if any."""
    if weights.repo:
        # The hub cache layout (models--org--name/refs/main -> snapshots/<commit>/<file>), read directly:
        # importing huggingface_hub costs more than the whole check should.
        repo_dir = hub_cache_dir(env) / f"models--{weights.repo.replace('/', '--')}"
        try:
            commit = (repo_dir / "refs" / "main").read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        for name in weights.filenames:
            found = repo_dir / "snapshots" / commit / name
            if commit and found.is_file():
                return found
        return None
    target = Path("~/.cache/clip").expanduser() / os.path.basename(weights.url)  # open_clip's URL cache
    return target if target.is_file() else None


def _size(n: int | None) -> str:
    if not n:
        return "size unknown"
    return f"{n / 1e6:.0f} MB" if n < 1e9 else f"{n / 1e9:.1f} GB"


def ensure_weights(model: str, tag: str, env: Mapping[str, str], reporter: Reporter | None = None) -> None:
    """Make sure open_clip will find ``model``/``tag`` weights, downloading them (announced once, with
    their size and a progress bar) when they are missing; raise :class:`ModelLoadError` at once when they
    are missing and the machine is offline. Models and tags this module cannot place are left alone."""
    reporter = reporter or Reporter()
    weights = hub_weights(model, tag)
    if weights is None or cached_file(weights, env) is not None:
        return
    if offline(env):
        raise ModelLoadError(unavailable_message(model, tag, env))
    if not weights.repo:  # URL-only weights: open_clip downloads them itself, with its own progress bar
        reporter.message(f"downloading the {model}/{tag} weights once from {weights.url} (then cached)")
        return
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    cache = str(hub_cache_dir(env))
    last: Exception | None = None
    for name in weights.filenames:
        try:
            size = get_hf_file_metadata(hf_hub_url(weights.repo, name)).size
        except Exception as exc:  # noqa: BLE001 - missing file variant, or no network: try the next, then fail
            last = exc
            continue
        reporter.message(
            f"downloading the {model}/{tag} weights once ({_size(size)}) from the Hugging Face hub "
            f"({weights.repo}/{name}); later runs use the cached copy"
        )
        try:
            hf_hub_download(weights.repo, name, cache_dir=cache)
            return
        except Exception as exc:  # noqa: BLE001 - any network or disk failure ends in the one sentence below
            last = exc
            break
    raise ModelLoadError(unavailable_message(model, tag, env)) from last
