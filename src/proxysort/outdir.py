"""The output folder, opened once and changed only through directory descriptors.

Why: a path is looked up again on every call, so a folder of the output tree that someone swaps for a
symlink (into the photo library, say) between two calls would send the next create or remove through the
link. Here the output root is opened once; every folder below it is opened component by component with
``O_DIRECTORY | O_NOFOLLOW`` relative to its parent's descriptor, and every create, link, copy, rename and
remove names a single component relative to a descriptor (``dir_fd=``). A symlink planted where a folder
should be makes the open fail (``ELOOP``/``ENOTDIR``) instead of being followed; a folder swapped after it
was opened keeps receiving our writes wherever it was moved to, never the link's target.

Creation never replaces: new names are made with ``O_EXCL``/``link``/``symlink``/``mkdir``, all of which fail
when the name exists, so a file a user drops at a planned name between planning and writing survives.

:meth:`OutDir.lock` serialises runs into one folder with ``flock`` on the folder's own descriptor.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import hashlib

from proxysort.errors import OutputError

PARTIAL_PREFIX = ".proxysort-partial-"
#: How long a run waits for another run writing the same output folder before giving up.
DEFAULT_LOCK_TIMEOUT = 600.0
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _path_max() -> int:
    try:
        return int(os.pathconf("/", "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):
        return 4096


_PATH_MAX = _path_max()


class LinkedFolderError(OutputError):
    """A folder of the output tree is a symlink or not a folder: proxysort will not go through it."""


def check_path_length(path: Path) -> None:
    """One sentence instead of an ``ENAMETOOLONG`` traceback for an absurd ``--out``."""
    if len(os.fsencode(str(path))) >= _PATH_MAX:
        raise OutputError(
            f"The output folder path is {len(os.fsencode(str(path)))} bytes long, more than the system allows "
            f"({_PATH_MAX}); choose a shorter `out`."
        )


def _parts(rel: str) -> tuple[str, ...]:
    """``rel``'s folder names. A relative path is split by hand: ``PurePosixPath`` interns every part, so a tree
    of millions of files looked up here grew the interpreter's table of interned strings by a name per file,
    ~50 bytes each, for the life of the process (issue 25)."""
    if rel.startswith("/"):
        return tuple(p for p in PurePosixPath(rel).parts if p not in ("", "."))
    return tuple(p for p in rel.split("/") if p not in ("", "."))


def fd_path(fd: int, fallback: Path) -> Path:
    """Where an open folder really is now (Linux ``/proc``), for checks that must not trust a name."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return Path(os.path.realpath(fallback))


class OutDir:
    """An open output folder. ``rel`` arguments are POSIX paths relative to it, never followed through links.

    A missing folder (before a first run) is represented with ``root_fd=None``: reads see it empty.
    """

    def __init__(self, path: Path, root_fd: int | None) -> None:
        self.path = path
        self.root_fd = root_fd
        self._fds: dict[tuple[str, ...], int] = {} if root_fd is None else {(): root_fd}
        self._locked = False

    # ------------------------------------------------------------------------------------- open / close

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> "OutDir":
        """Open ``path`` (following links in the path the user gave, once); create it when asked."""
        path = Path(os.path.abspath(path))
        check_path_length(path)
        if create:
            try:
                os.makedirs(path, exist_ok=True)
            except FileExistsError as exc:
                raise OutputError(f"{path} exists and is not a folder; choose another `out`.") from exc
            except OSError as exc:
                raise OutputError(f"Cannot create the output folder {path}: {exc.strerror or exc}.") from exc
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if create:
                raise OutputError(f"The output folder {path} disappeared while proxysort was opening it.") from None
            return cls(path, None)
        except NotADirectoryError as exc:
            raise OutputError(f"{path} exists and is not a folder; choose another `out`.") from exc
        except OSError as exc:
            raise OutputError(f"Cannot open the output folder {path}: {exc.strerror or exc}.") from exc
        return cls(path, fd)

    @property
    def exists(self) -> bool:
        return self.root_fd is not None

    def real_path(self) -> Path:
        """The folder the root descriptor refers to, wherever its name now points."""
        return fd_path(self.root_fd, self.path) if self.root_fd is not None else Path(os.path.realpath(self.path))

    def close(self) -> None:
        self.unlock()
        for fd in set(self._fds.values()):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        self.root_fd = None

    def __enter__(self) -> "OutDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------- lock

    @contextlib.contextmanager
    def lock(self, timeout: float = DEFAULT_LOCK_TIMEOUT, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold an exclusive ``flock`` on the output folder itself (waiting up to ``timeout`` seconds).

        Locking the folder's own descriptor rather than a lock file inside it leaves nothing behind (no
        file to clean up, no folder mtime change on a run that changes nothing) and has no window where a
        lock file is removed while another run waits on it. Every run opens the same folder, so every run
        contends for the same lock; the kernel drops it when a run dies, even under ``kill -9``.
        """
        assert self.root_fd is not None, "lock() needs an existing output folder"
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(self.root_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait(f"another proxysort run is writing {self.path}; waiting up to {timeout:.0f} s for it to finish")
                waited = True
                if time.monotonic() >= deadline:
                    raise OutputError(
                        f"Another proxysort run kept {self.path} locked for more than {timeout:.0f} s; "
                        "try again when it has finished."
                    ) from None
                time.sleep(0.05)
            except OSError as exc:
                # Some network file systems cannot lock a folder: go on, but say what is not guaranteed.
                if on_wait is not None:
                    on_wait(f"cannot lock {self.path} ({exc.strerror or exc}); do not run two proxysort commands into it at once")
                break
        self._locked = True
        try:
            yield
        finally:
            self.unlock()

    def unlock(self) -> None:
        if self._locked and self.root_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.root_fd, fcntl.LOCK_UN)
        self._locked = False

    # ---------------------------------------------------------------------------------------- folders

    def dir_fd(self, rel: str, *, create: bool = False) -> int | None:
        """Descriptor of folder ``rel``; ``None`` if it (or a parent) is missing and ``create`` is false.

        Raises :class:`LinkedFolderError` when a component is a symlink or not a folder.
        """
        parts = _parts(rel)
        if self.root_fd is None:
            return None
        if parts in self._fds:
            return self._fds[parts]
        parent = self.dir_fd("/".join(parts[:-1]), create=create)
        if parent is None:
            return None
        name = parts[-1]
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=parent)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            return None
        except (NotADirectoryError, OSError) as exc:
            if isinstance(exc, NotADirectoryError) or exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise LinkedFolderError(
                    f"{self.path / rel} is a link or a file, not a folder proxysort made; proxysort will not write "
                    "through it (move it away or choose another `out`)."
                ) from exc
            raise
        self._fds[parts] = fd
        return fd

    def split(self, rel: str) -> tuple[int | None, str]:
        """(descriptor of the parent folder, last component); parent ``None`` when it is missing or a link."""
        parts = _parts(rel)
        try:
            return self.dir_fd("/".join(parts[:-1])), parts[-1]
        except LinkedFolderError:
            return None, parts[-1]

    def forget(self, rel: str) -> None:
        """Drop cached descriptors of ``rel`` and below (after it was removed)."""
        parts = _parts(rel)
        for key in [k for k in self._fds if k[: len(parts)] == parts and k]:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop(key))

    def listdir(self, rel: str = "") -> list[str]:
        """Names in folder ``rel``; empty when it is missing or not a real folder."""
        try:
            fd = self.dir_fd(rel)
        except LinkedFolderError:
            return []
        if fd is None:
            return []
        try:
            return os.listdir(fd)
        except OSError:
            return []

    def is_dir(self, rel: str) -> bool:
        st = self.lstat(rel)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def mkdir(self, rel: str) -> bool:
        """Make folder ``rel`` (its parent must exist); True when this call created it."""
        parent, name = self.split(rel)
        if parent is None:
            raise LinkedFolderError(f"The folder holding {self.path / rel} is missing or a link; proxysort will not write through it.")
        try:
            os.mkdir(name, 0o755, dir_fd=parent)
            return True
        except FileExistsError:
            self.dir_fd(rel)  # refuses a link or file squatting the name
            return False

    def rmdir(self, rel: str) -> bool:
        parent, name = self.split(rel)
        if parent is None:
            return False
        self.forget(rel)
        try:
            os.rmdir(name, dir_fd=parent)
            return True
        except OSError:
            return False

    # ------------------------------------------------------------------------------------------ files

    def lstat(self, rel: str) -> os.stat_result | None:
        parent, name = self.split(rel)
        if parent is None:
            return None
        try:
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except OSError:
            return None

    def readlink(self, rel: str) -> str | None:
        parent, name = self.split(rel)
        if parent is None:
            return None
        try:
            return os.readlink(name, dir_fd=parent)
        except OSError:
            return None

    def open_regular(self, rel: str) -> int | None:
        """A read descriptor on regular file ``rel``, looked up without following links and opened without
        blocking (a FIFO swapped in is refused, never waited on); ``None`` when it is missing. Raises
        :class:`OSError` for anything that is not a regular file."""
        parent, name = self.split(rel)
        if parent is None:
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file")
        return fd

    def read_bytes(self, rel: str, limit: int) -> bytes | None:
        """Up to ``limit`` bytes of regular file ``rel`` (never a link or a FIFO); ``None`` when missing."""
        fd = self.open_regular(rel)
        if fd is None:
            return None
        try:
            chunks, size = [], 0
            while size <= limit and (chunk := os.read(fd, 1 << 20)):
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def holds(self, rel: str, pieces: Iterable[bytes]) -> bool:
        """Whether regular file ``rel`` (never a link or a FIFO) holds exactly the concatenation of ``pieces``,
        compared a piece at a time (neither side is ever whole in memory); False when it is missing."""
        fd = self.open_regular(rel)
        if fd is None:
            return False
        try:
            for piece in pieces:
                at = 0
                while at < len(piece):
                    chunk = os.read(fd, min(len(piece) - at, 1 << 20))
                    if not chunk or chunk != piece[at : at + len(chunk)]:
                        return False
                    at += len(chunk)
            return os.read(fd, 1) == b""
        finally:
            os.close(fd)

    def unlink(self, rel: str) -> bool:
        """Remove file or link ``rel`` (never follows a link); False when it was already gone."""
        parent, name = self.split(rel)
        if parent is None:
            return False
        try:
            os.unlink(name, dir_fd=parent)
            return True
        except FileNotFoundError:
            return False

    def _parent_for_create(self, rel: str) -> tuple[int, str]:
        parts = _parts(rel)
        parent = self.dir_fd("/".join(parts[:-1]))
        if parent is None:
            raise LinkedFolderError(f"The folder holding {self.path / rel} disappeared while proxysort was writing.")
        return parent, parts[-1]

    def symlink(self, target: str, rel: str) -> None:
        parent, name = self._parent_for_create(rel)
        os.symlink(target, name, dir_fd=parent)

    def hardlink(self, source: str, rel: str) -> os.stat_result:
        """Hard-link the photo ``source`` (an absolute, resolved path) as ``rel``; returns the linked inode."""
        parent, name = self._parent_for_create(rel)
        os.link(source, name, dst_dir_fd=parent, follow_symlinks=False)
        return os.stat(name, dir_fd=parent, follow_symlinks=False)

    def copy(self, source: str | BinaryIO, rel: str, digest: "hashlib._Hash | None" = None) -> os.stat_result:
        """Copy ``source`` (a path, or a file the caller opened) to ``rel`` with its mtime and permission
        bits; never replaces an existing name. ``digest`` is fed every byte written.

        The copy is written under a temporary name and then linked into place (``link`` fails if the name
        exists), so a reader never sees half a copy and a crash leaves only a ``.proxysort-partial-*`` file.
        """
        from proxysort.safeopen import open_regular

        parent, name = self._parent_for_create(rel)
        tmp = f"{PARTIAL_PREFIX}{uuid.uuid4().hex}"
        with (open_regular(source) if isinstance(source, str) else contextlib.nullcontext(source)) as src:
            st = os.fstat(src.fileno())
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb", closefd=False) as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                        if digest is not None:
                            digest.update(chunk)
                os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o777)
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
                done = os.fstat(fd)
            finally:
                os.close(fd)
        try:
            try:
                os.link(tmp, name, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                # A file system without hard links: rename, after making sure nothing took the name.
                if self.lstat(rel) is not None:
                    raise FileExistsError(errno.EEXIST, "File exists", str(self.path / rel)) from exc
                os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=parent)
        return done

    def write_atomic(self, name: str, text: str | Iterable[str]) -> None:
        """Replace top-level file ``name`` atomically (temporary file + rename, both in the root) with
        ``text``, or the pieces of text it yields one after another.

        The bytes are flushed to disk before the rename and the rename after it: this is the manifest, the
        record of what the tool placed, and after a power cut it must be the old one or the new one, never
        an empty file under the new name (one fsync per run is cheap; thumbnails are not synced)."""
        assert self.root_fd is not None
        tmp = f"{PARTIAL_PREFIX}{uuid.uuid4().hex}.json"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self.root_fd)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for piece in [text] if isinstance(text, str) else text:
                    fh.write(piece)
                fh.flush()
                os.fsync(fh.fileno())
            os.rename(tmp, name, src_dir_fd=self.root_fd, dst_dir_fd=self.root_fd)
            try:
                os.fsync(self.root_fd)
            except OSError as exc:  # some network and FUSE file systems cannot sync a folder: the file is
                if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # written; keep going
                    raise
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self.root_fd)
            raise

    def write_file(self, rel: str, data: bytes) -> None:
        """Replace file ``rel`` atomically with ``data``: a temporary file in the same folder (opened on the
        held descriptor, never through a link), then a rename, so a reader sees the old or the new bytes."""
        parent, name = self._parent_for_create(rel)
        tmp = f"{PARTIAL_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise

    def clean_partials(self, rels: list[str]) -> None:
        """Remove temporary files a crashed copy or manifest write left behind (only in our folders)."""
        for rel in ["", *rels]:
            for name in self.listdir(rel):
                if name.startswith(PARTIAL_PREFIX):
                    self.unlink(f"{rel}/{name}" if rel else name)
