"""``proxysort index`` (build or refresh the vector cache of a folder) and ``proxysort status``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import typer

from proxysort.cli.common import cache_dir_for, get_env, model_spec, reporter_for
from proxysort.cli.inputs import stdin_paths
from proxysort.cli.options import (
    BatchSizeOpt,
    CacheDirOpt,
    DeviceOpt,
    ExcludeOpt,
    FolderArg,
    IncludeHiddenOpt,
    IndexJsonOpt,
    IndexSourcesArg,
    IndexStrictOpt,
    ModelOpt,
    PrecisionOpt,
    PretrainedOpt,
    QuietOpt,
    RayOpt,
    VerboseOpt,
    WorkersOpt,
)
from proxysort.errors import ExitCode
from proxysort.progress import terminal_safe


def index_command(
    sources: IndexSourcesArg,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    cache_dir: CacheDirOpt = None,
    exclude: ExcludeOpt = None,
    include_hidden: IncludeHiddenOpt = False,
    strict: IndexStrictOpt = False,
    batch_size: BatchSizeOpt = None,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    json_out: IndexJsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Embed every photo under DIR once and cache the vectors; re-runs only embed what changed.

    Unchanged files (same path, size and mtime) are skipped, renamed or moved files reuse their vectors,
    and files that vanished from DIR are forgotten. Nothing under DIR is ever written. Unreadable, corrupt
    or oversized files are listed on stderr ("skipped: PATH: REASON") and the run goes on. Camera RAW and
    HEIC are photos; sidecars, Live Photo clips and the RAW of a RAW+JPEG pair follow their photo; videos
    and other files are counted as ignored, by kind (all of them listed with --json).

    Exit codes: 0 every file indexed, or skipped already by an earlier run and unchanged since (one line
    counts those; `status` lists them); 3 some files were skipped for the first time (the rest is indexed
    and usable), or --strict and any file was skipped; 4 model unavailable; 5 cache not writable; 6 DIR missing or unreadable.
    """
    import functools

    from proxysort.indexer import index

    env = get_env()
    if ray is not None:
        from proxysort import distributed

        index = functools.partial(distributed.index, ray=ray)
    targets: list[Path] = list(sources)
    if [str(s) for s in targets] == ["-"]:
        targets = stdin_paths(env)
    result = index(
        targets if len(targets) != 1 else targets[0],
        model=model_spec(env, model, pretrained, device, precision),
        cache_dir=cache_dir_for(env, cache_dir),
        exclude=exclude or (),
        include_hidden=include_hidden,
        strict=strict,
        reporter=reporter_for(env, quiet, verbose),
        batch_size=batch_size,
        workers=workers,
        env=env,
    )
    if json_out:
        payload = {
            "identity": result.identity,
            "precision": result.precision,
            "store": str(result.store),
            "vectors": len(result.paths),
            "summary": result.summary.as_dict(),
            "failures": [{"path": str(p), "reason": r} for p, r in result.failures],
            "ignored": {kind: [str(p) for p in paths] for kind, paths in result.ignored.items()},
            "companions": {str(p): [str(c) for c in cs] for p, cs in result.companions.items()},
            "duplicates": _duplicates(result.paths, result.content_ids),
        }
        env.stdout.write(json.dumps(payload, indent=2) + "\n")
    if result.new_failures:  # files skipped as in an earlier run were counted in one line: no new problem
        raise typer.Exit(int(ExitCode.PARTIAL))


def status_command(
    folder: FolderArg,
    cache_dir: CacheDirOpt = None,
    exclude: ExcludeOpt = None,
    include_hidden: IncludeHiddenOpt = False,
    json_out: IndexJsonOpt = False,
) -> None:
    """Show what the cache holds for DIR: which models indexed it, how many vectors, what changed since,
    and how much space the cache takes. Given an output folder (the OUT of `cluster`), list its trees, their
    groups and the corrections kept: photos placed by you, groups named by you, photos left out, and what
    you changed by hand since the last run. Reads only; never loads a model."""
    from proxysort.folder_status import status
    from proxysort.library import Selection, describe
    from proxysort.out_status import is_output_folder

    env = get_env()
    if is_output_folder(folder):
        _output_status(folder, json_out)
        return
    selection = Selection.of(exclude or (), include_hidden)
    report = status(folder, cache_dir=cache_dir_for(env, cache_dir), env=env, selection=selection)
    if json_out:
        env.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
        return
    out = [
        f"folder: {report.folder}",
        f"images on disk: {report.on_disk} ({report.not_indexed} not indexed or changed)",
    ]
    if not report.stores:
        out.append(f"not indexed yet: run `proxysort index {report.folder}`")
    for s in report.stores:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.last_indexed)) if s.last_indexed else "never"
        out.append(
            f"model {s.identity}: {s.indexed} indexed ({s.up_to_date} up to date, {s.stale} changed, "
            f"{s.vanished} vanished), {s.failed} failed; last indexed {when}"
        )
        out.append(
            f"  store {s.store}: {s.vectors_total} vectors x {s.dim or '?'}"
            + (f" in {s.precision}" if s.precision else "")
            + f", {_size(s.bytes_on_disk)}"
        )
        out += [f"  skipped: {terminal_safe(path)}: {reason}" for path, reason in s.skipped]
    if any(report.companions.values()):
        out.append(f"with their photos: {describe(report.companions)}")
    if any(report.ignored.values()):
        out.append(f"ignored: {describe(report.ignored)}")
    out.append(f"cache: {report.cache_dir} ({_size(report.cache_bytes)})")
    env.stdout.write("\n".join(out) + "\n")


def _output_status(out: Path, json_out: bool) -> None:
    """``status OUT``: the trees of an output folder and the corrections they keep, one fact a line."""
    from proxysort.out_status import out_status

    env = get_env()
    report = out_status(out)
    if json_out:
        env.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
        return
    lines = [f"output folder: {terminal_safe(str(report.out))}"]
    for t in report.trees:
        how = f" ({t.made_with})" if t.made_with else ""
        lines.append(f"{terminal_safe(t.concept)}: {t.photos} photos in {len(t.groups)} groups, "
                     f"folder {terminal_safe(t.folder)}/{terminal_safe(how)}")
        lines += [f"  {terminal_safe(g.name)}: {g.photos} photo{'s' if g.photos != 1 else ''}"
                  + (", named by you" if g.by_user else "") for g in t.groups]
    if report.kept:
        lines.append(f"corrections kept ({len(report.kept)}); every later run keeps them (--recluster brings back "
                     "the photos left out):")
        lines += [f"  {terminal_safe(line)}" for line in report.kept]
    else:
        lines.append("corrections kept: none (move a link into another group folder, or rename a group folder, "
                     "and the next run keeps it)")
    if report.pending:
        lines.append(f"changed by hand since the last run ({len(report.pending)}); the next run keeps these:")
        lines += [f"  {terminal_safe(line)}" for line in report.pending]
    env.stdout.write("\n".join(lines) + "\n")


def _duplicates(paths: Sequence[Path], content_ids: Sequence[str]) -> list[list[str]]:
    """Groups of byte-identical photos (same content id), each in path order."""
    groups: dict[str, list[str]] = {}
    for path, cid in zip(paths, content_ids):
        groups.setdefault(cid, []).append(str(path))
    return [g for g in groups.values() if len(g) > 1]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
