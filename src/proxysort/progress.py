"""Progress and messages for people, always on stderr, and silent by default for library callers.

Library functions take a :class:`Reporter`; the base class does nothing, so ``proxysort.index(...)`` in a
notebook prints nothing unless asked. The CLI passes a :class:`ConsoleReporter` bound to the invocation's
stderr: live bars on a terminal, a few plain lines when stderr is a pipe or a log file.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import IO, Callable, ContextManager, Iterator

Advance = Callable[..., None]


class Reporter:
    """The silent reporter, and the interface every reporter implements."""

    def message(self, text: str) -> None:
        """A line of information (e.g. a summary)."""

    def warning(self, text: str) -> None:
        """Something the user should know but that does not stop the run."""

    def skipped(self, path: str | Path, reason: str) -> None:
        """One file could not be used; called once per file with a short reason."""

    def flush(self) -> None:
        """Say what was held back (e.g. counts of repeated skip reasons); called at the end of a step."""

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Advance]:
        """Yield ``advance(n=1, **fields)``; fields (e.g. ``found=...``) are shown next to the bar."""
        yield lambda n=1, **fields: None

    def stage(self, description: str, total: int) -> ContextManager[Advance]:
        """Like :meth:`progress`, for a step counted in its own units (epochs, rounds) that mean nothing to
        a photographer: shown as a share done, never as a count, and ``description`` says what is done to
        how many photos (``learning which words fit: 112 photos``). A reporter that draws no difference
        gets the plain progress."""
        return self.progress(description, total)


class OneBar(Reporter):
    """Forwards to ``inner``, but every progress bar opened through it advances one bar opened by the caller
    (a run learned in chunks, or in stages, shows one bar instead of one per piece)."""

    def __init__(self, inner: Reporter, advance: Advance) -> None:
        self.inner, self._advance = inner, advance

    def message(self, text: str) -> None:
        self.inner.message(text)

    def warning(self, text: str) -> None:
        self.inner.warning(text)

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield self._advance


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` with every control character but line break and tab as a visible ``\\xNN`` escape.

    Names and concepts come from the user's files and flags; a file named ``\\e]0;title\\a`` printed raw
    retitles the terminal, ``\\e[2J`` clears it, and a carriage return hides what came before it.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class ConsoleReporter(Reporter):
    """Writes to a stream (stderr). Uses rich live bars only when ``is_tty``; never touches stdout."""

    def __init__(
        self,
        stream: IO[str],
        *,
        is_tty: bool,
        quiet: bool = False,
        verbose: bool = False,
        wording: Callable[[str], str] | None = None,
    ) -> None:
        """``wording`` rewrites each line before it is shown: the CLI passes one that turns the parameter names
        messages carry in backticks (```verbose```) into its flags (``--verbose``)."""
        from rich.console import Console

        self.stream = stream
        self.wording = wording
        self.is_tty = is_tty
        self.quiet = quiet
        self.verbose = verbose
        self._repeats: dict[str, int] = {}  # reason -> skips not shown since its first line
        self.console = Console(file=stream, force_terminal=is_tty, highlight=False, soft_wrap=True)

    def _line(self, text: str) -> None:
        # Plain print: file names may contain brackets that rich would read as markup. Control characters
        # (ESC, BEL, CR, C1) from a file name or a concept would drive the terminal: shown escaped.
        if self.wording is not None:
            text = self.wording(text)
        self.console.print(terminal_safe(text), markup=False, emoji=False)

    def message(self, text: str) -> None:
        if not self.quiet:
            self._line(text)

    def warning(self, text: str) -> None:
        self._line(f"warning: {text}")

    def skipped(self, path: str | Path, reason: str) -> None:
        # Path first, so `2> skipped.log` is greppable. Line breaks (any that
        # str.splitlines knows) and undecodable bytes in names are escaped. A reason already
        # shown is only counted (500 HEICs without a decoder are one problem), unless verbose.
        if not self.verbose and reason in self._repeats:
            self._repeats[reason] += 1
            return
        self._repeats[reason] = 0
        text = str(path)
        plain = text.splitlines() == [text] and not any("\udc80" <= ch <= "\udcff" for ch in text)
        shown = text if plain else text.encode("unicode_escape", "backslashreplace").decode("ascii")
        self._line(f"skipped: {shown}: {reason}")

    def flush(self) -> None:
        for reason, count in self._repeats.items():
            if count:
                self._line(f"skipped: {count} more file(s): {reason} (`verbose` lists each)")
        self._repeats = {reason: 0 for reason in self._repeats}

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield from self._bar(description, total, counted=True)

    @contextlib.contextmanager
    def stage(self, description: str, total: int) -> Iterator[Advance]:
        yield from self._bar(description, total, counted=False)

    def _bar(self, description: str, total: int | None, *, counted: bool) -> Iterator[Advance]:
        if self.quiet:
            yield lambda n=1, **fields: None
            return
        if not self.is_tty:
            yield from self._plain(description, total, counted=counted)
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        shown = (MofNCompleteColumn(), TextColumn("{task.fields[rate]}")) if counted else (TaskProgressColumn(),)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            *shown,
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            *((TextColumn("{task.fields[extra]}"),) if counted else ()),
        )
        start = time.monotonic()
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=total, rate="", extra="")
            done = 0

            def advance(n: int = 1, **fields: object) -> None:
                nonlocal done
                done += n
                elapsed = max(time.monotonic() - start, 1e-6)
                rate = f"{done / elapsed:.1f}/s"
                if fields:
                    bar.update(task, advance=n, rate=rate, extra=" ".join(f"{k}={v}" for k, v in fields.items()))
                else:
                    bar.update(task, advance=n, rate=rate)

            yield advance

    def _plain(self, description: str, total: int | None, *, counted: bool) -> Iterator[Advance]:
        """When stderr is not a terminal: a line every ~10 s and a final line, never a flood. A counted bar
        says how many and how fast; a stage says the share done, then how long it took."""
        start = last = time.monotonic()
        done = 0

        def advance(n: int = 1, **fields: object) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last < 10:
                return
            last = now
            if counted:
                of = f"/{total}" if total else ""
                self._line(f"{description}: {done}{of} ({done / max(now - start, 1e-6):.1f}/s)")
            elif total:
                self._line(f"{description}: {min(100, 100 * done // total)}%")

        yield advance
        if done:
            elapsed = time.monotonic() - start
            if counted:
                self._line(f"{description}: {done} done ({done / max(elapsed, 1e-6):.1f}/s)")
            else:
                self._line(f"{description}: done ({elapsed:.1f} s)")
