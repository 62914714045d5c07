"""What every command shares: the invocation's :class:`Environment`, the error boundary (library errors →
one sentence with flag names + exit code), and turning parsed options into library arguments.

Commands import this module and :mod:`proxysort.cli.options`, never :mod:`proxysort.cli.app`, so the
import graph has no circle: ``app`` imports the commands and registers them.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TypeVar

import typer

from proxysort.encoders import ModelSpec
from proxysort.env import Environment
from proxysort.errors import ExitCode, ProxysortError, UsageError
from proxysort.progress import ConsoleReporter, Reporter

if TYPE_CHECKING:  # pragma: no cover
    from proxysort.sorting import By, SortResult

F = TypeVar("F", bound=Callable[..., Any])

#: Library parameter name → the flag that sets it; library errors name parameters, the CLI shows flags.
FLAGS = {
    "by": "--by",
    "noun": "--noun",
    "k": "--k",
    "words": "--words",
    "words_file": "--words-file",
    "mode": "--method",
    "feature": "--feature",
    "epochs": "--epochs",
    "device": "--device",
    "precision": "--precision",
    "pretrained": "--pretrained",
    "strict": "--strict",
    "cache_dir": "--cache-dir",
    "llm_model": "--llm",
    "link": "--link",
    "ray": "--ray",
    "seed": "--seed",
    "recluster": "--recluster",
    "out": "--out",
    "verbose": "--verbose",
    "threads": "--threads",
}

_current_env: Environment | None = None


def set_env(env: Environment | None) -> None:
    """Install the environment of the invocation that is starting (None when it ends)."""
    global _current_env
    _current_env = env


def get_env() -> Environment:
    """The environment of the running invocation (tests inject one through :func:`proxysort.cli.main`)."""
    global _current_env
    if _current_env is None:
        _current_env = Environment()
    return _current_env


_PARAM = re.compile(r"`([a-z_]+)`")


def in_flags(text: str) -> str:
    """``text`` with each parameter it names in backticks written as its flag: ```k``` → ``--k``."""
    return _PARAM.sub(lambda m: FLAGS.get(m.group(1), m.group(0)), text)


def flag_message(err: ProxysortError) -> str:
    """A library error as the CLI says it: its parameters as flags."""
    return in_flags(str(err))


def fail(message: str, code: ExitCode) -> "typer.Exit":
    """Print one line to stderr and return the Exit to raise: ``raise fail(...)``."""
    from proxysort.progress import terminal_safe

    stderr = get_env().stderr
    stderr.write(f"proxysort: {terminal_safe(message)}\n")
    stderr.flush()
    return typer.Exit(int(code))


def handle_errors(func: F) -> F:
    """Turn library errors into one sentence on stderr plus a documented exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from proxysort import interrupts

        try:
            with interrupts.catching():  # a Ctrl-C swallowed in a destructor is raised again later
                return func(*args, **kwargs)
        except ProxysortError as err:
            raise fail(flag_message(err), err.exit_code) from None
        except KeyboardInterrupt:
            raise fail(_interrupted_message(func.__name__), ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader of our stdout went away (e.g. `| head`): not an error for a pipeline tool.
            # Point stdout at devnull so the interpreter's final flush does not raise again.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(int(ExitCode.OK)) from None

    return wrapper  # type: ignore[return-value]


def _interrupted_message(command: str) -> str:
    """What Ctrl-C leaves behind, truthfully: the vector index and the proxy cache commit as they go."""
    if command == "index_command":
        return "interrupted; the photos indexed so far are kept, and the next run resumes after them."
    if command in ("cluster_command", "eval_command"):
        from proxysort.learn.registry import METHODS
        from proxysort.proxycache import CHUNK

        rows = _listed([m.name for m in METHODS.values() if m.rows])  # what each method keeps, as declared
        steps = _listed([m.name for m in METHODS.values() if m.learn_stored])
        return (
            f"interrupted; photos indexed so far are kept in the cache, and so are the proxies the {rows} methods "
            f"finished (every {CHUNK:,} photos where each photo learns alone, otherwise once the whole set is "
            f"learned) and the learning steps {steps} finished (not the other methods' proxies); no folder tree "
            "was written."
        )
    return "interrupted."


def _listed(names: list[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def reporter_for(env: Environment, quiet: bool = False, verbose: bool = False) -> ConsoleReporter:
    """Progress on stderr: live bars on a terminal, sparse plain lines otherwise."""
    return ConsoleReporter(env.stderr, is_tty=bool(env.stderr_isatty), quiet=quiet, verbose=verbose, wording=in_flags)


def model_spec(
    env: Environment, model: str | None, pretrained: str | None, device: str | None, precision: str | None = None
) -> ModelSpec:
    """Flags, else ``PROXYSORT_MODEL/PRETRAINED/DEVICE/PRECISION`` from ``env``, else the defaults."""
    return ModelSpec.from_env(env.vars, model=model, pretrained=pretrained, device=device, precision=precision)


def cache_dir_for(env: Environment, cache_dir: Path | None) -> Path:
    """``--cache-dir``, else ``PROXYSORT_CACHE_DIR`` from ``env``, else the platform's cache folder."""
    return cache_dir.expanduser() if cache_dir is not None else env.cache_dir


def by_from_flags(
    by: list[str],
    k: "Sequence[int | None] | None",
    words: Optional[list[str]],
    words_file: Optional[list[Path]],
    noun: Optional[str],
) -> "list[By]":
    """``--by`` with its ``--words``/``--words-file`` (one per ``--by``, in order; one ``--by`` may take
    several ``--words``), ``--noun`` and ``--k`` (one for all, or one per concept) as the library's list."""
    from proxysort.sorting import By
    from proxysort.words import split_words

    n = len(by)
    if words and n > 1 and len(words) != n:
        raise UsageError(f"With {n} --by concepts, give --words {n} times (once per concept, in order), or not at all.")
    if words_file and len(words_file) != n:
        if n == 1:
            raise UsageError("Give --words-file once per --by concept.")
        raise UsageError(f"With {n} --by concepts, give --words-file {n} times (once per concept, in order), or not at all.")
    if k and len(k) not in (1, n):
        raise UsageError(f"With {n} --by concepts, give --k once (for all of them) or {n} times (once per concept, in "
                         f"order), not {len(k)} times.")
    per_words = ([split_words(words)] if n == 1 else [split_words([w]) for w in words]) if words else [None] * n
    per_file: list[Optional[Path]] = list(words_file) if words_file else [None] * n
    per_k = list(k) if k and len(k) == n else [k[0] if k else None] * n
    return [By(c, words=w, words_file=f, noun=noun, k=kc) for c, w, f, kc in zip(by, per_words, per_file, per_k)]


def sort_with_flags(
    *,
    source: "Path | list[Path]",
    by: "list[By]",
    llm: Optional[str],
    mode: str,
    feature: Optional[str],
    epochs: Optional[int],
    model: Optional[str],
    pretrained: Optional[str],
    device: Optional[str],
    cache_dir: Optional[Path],
    seed: int,
    strict: bool,
    env: Environment,
    reporter: Reporter,
    exclude: Sequence[Path] = (),
    include_hidden: bool = False,
    ray: Optional[str] = None,
    threads: Optional[int] = None,
    tree: Optional[Path] = None,
    recluster: bool = False,
) -> "SortResult":
    """Words (confirmed at a terminal) → :func:`proxysort.sorting.sort`; shared by ``cluster`` and ``eval``."""
    import dataclasses

    from proxysort.cli.wordprompt import confirm_words, will_ask
    from proxysort.encoders import check_weights
    from proxysort.learn.core import ProxyConfig
    from proxysort.sorting import resolve_words, sort
    from proxysort.threads import set_threads
    from proxysort.words import WordList

    set_threads(threads)
    training = ProxyConfig(mode=mode, seed=seed, epochs=epochs)
    training.validate()  # a bad --seed is refused before any word source is asked
    cache = cache_dir_for(env, cache_dir)
    # Order: words first (a bad --words fails in a second), then the model (fail or download before any
    # scan), then the one question, then the long work.
    resolved = resolve_words(by, llm_model=llm, env=env, reporter=reporter, cache_dir=cache, announce=False)
    spec = model_spec(env, model, pretrained, device)
    check_weights(spec, env.vars, reporter)
    confirmed = []
    for b in resolved:
        words = b.words
        assert isinstance(words, WordList)
        if will_ask(words, env):  # the prompt shows the words: print them once, there
            b = dataclasses.replace(b, words=confirm_words(words, env))
        else:
            reporter.message(f"{words.describe()}: {', '.join(words.words)}")
        confirmed.append(b)
    return sort(
        source,
        confirmed,
        model=spec,
        training=training,
        feature=feature,
        cache_dir=cache,
        exclude=exclude,
        include_hidden=include_hidden,
        strict=strict,
        env=env,
        reporter=reporter,
        ray=ray,
        tree=tree,
        recluster=recluster,
    )


def open_in_browser(page: Path, env: Environment, reporter: Reporter) -> bool:
    """Open ``page`` in the user's browser (``cluster --open``, ``show``); warn if none can.

    Python's ``webbrowser``, honouring ``$BROWSER`` from the invocation's :class:`Environment` (not the
    process's), so tests choose a command that records the URL instead of starting a real browser.
    """
    import os
    import webbrowser

    url = page.as_uri()
    choice = env.get("BROWSER")
    try:
        opener = webbrowser.get(choice.split(os.pathsep)[0]) if choice else webbrowser.get()
        opened = bool(opener.open(url))
    except webbrowser.Error:
        opened = False
    if not opened:
        reporter.warning(f"no browser could be started; open {url} yourself")
    return opened
