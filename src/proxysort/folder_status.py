"""``proxysort status``: what the cache knows about a folder, per model. Read-only: never writes the cache
and never loads a model, so it works on a read-only cache and costs no start-up of torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from proxysort.env import Environment
from proxysort.library import Selection, companion_counts, gather, ordered
from proxysort.scan import check_root
from proxysort.store import VectorStore


@dataclass
class StoreStatus:
    """One model's view of a folder: how much of what is on disk it has vectors for."""

    identity: str
    store: Path
    indexed: int  # files under the folder with a vector
    up_to_date: int  # ... whose size and mtime still match the disk
    stale: int  # changed on disk since they were indexed
    vanished: int  # indexed but no longer on disk (swept by the next index run)
    failed: int  # remembered decode failures under the folder
    vectors_total: int  # in the whole store (all folders)
    dim: int | None
    precision: str | None  # the image encoder's precision of every vector (None: no vectors yet)
    bytes_on_disk: int
    last_indexed: float | None
    #: the remembered failures themselves, (path, reason): what `index` and `cluster` count as "still skipped"
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class FolderStatus:
    folder: Path
    on_disk: int  # photos, as `index` selects them (a RAW+JPEG pair is one photo)
    not_indexed: int  # on disk, not up to date in any store (what `index` with the default model would do)
    stores: list[StoreStatus]
    cache_dir: Path
    cache_bytes: int
    companions: dict[str, int] = field(default_factory=dict)  # files that follow their photos, by kind
    ignored: dict[str, int] = field(default_factory=dict)  # files not sorted, by kind

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"], data["cache_dir"] = str(self.folder), str(self.cache_dir)
        for s in data["stores"]:
            s["store"] = str(s["store"])
        return data


def status(
    source: Path | str,
    *,
    cache_dir: Path | None = None,
    env: Environment | None = None,
    selection: Selection | None = None,
) -> FolderStatus:
    """What the cache knows about ``source``, for every model that indexed it, with the photos selected
    as ``index`` selects them under ``selection``. Read-only: never writes the cache and never loads a
    model."""
    env = env or Environment()
    root = check_root(Path(source))
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else env.cache_dir
    lib = gather([root], [], selection or Selection())
    on_disk = lib.photos
    stores: list[StoreStatus] = []
    up_to_date_anywhere: set[str] = set()
    for db in sorted((cache_root / "stores").glob("*/index.sqlite")):
        with VectorStore(db, readonly=True) as store:
            rows = store.rows_under(root)
            failures = store.failures_under(root)
            if not rows and not failures:
                continue
            fresh = {
                p for p, r in rows.items()
                if r.has_vector and p in on_disk and (on_disk[p].size, on_disk[p].mtime_ns) == (r.size, r.mtime_ns)
            }
            up_to_date_anywhere |= fresh
            stats = store.stats(root)
            stores.append(
                StoreStatus(
                    identity=stats.identity or db.parent.name,
                    store=db,
                    indexed=sum(r.has_vector for r in rows.values()),
                    up_to_date=len(fresh),
                    stale=sum(1 for p in rows if p in on_disk and p not in fresh),
                    vanished=sum(1 for p in rows if p not in on_disk),
                    failed=stats.failures,
                    vectors_total=stats.vectors,
                    dim=stats.dim,
                    precision=store.precision(),
                    bytes_on_disk=stats.bytes_on_disk,
                    last_indexed=store.last_indexed(root),
                    skipped=sorted((f.path, f.reason) for f in failures.values()),
                )
            )
    cache_bytes = sum(p.stat().st_size for p in cache_root.rglob("*") if p.is_file()) if cache_root.is_dir() else 0
    return FolderStatus(
        root, len(on_disk), len(set(on_disk) - up_to_date_anywhere), stores, cache_root, cache_bytes,
        companions=companion_counts({Path(k): v for k, v in lib.companions.items()}),
        ignored={kind: len(paths) for kind, paths in ordered(lib.ignored).items()},
    )
