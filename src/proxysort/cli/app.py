"""The Typer application, the per-invocation :class:`Environment`, and error handling shared by commands.

Each command lives in its own module (``cli/index_cmd.py``, ...) and registers itself on :data:`app`;
this module only wires them together, so it never grows into a 4,000-line ``cli.py``.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Sequence, TypeVar

import typer

from proxysort.env import Environment
from proxysort.errors import ProxysortError
from proxysort.exitcodes import ExitCode

app = typer.Typer(
    name="proxysort",
    help="Sort a folder of photos by the aspect you care about (color, species, pose, ...).\n\n"
    "Results go to stdout; progress and messages go to stderr. Exit codes: 0 ok, 1 internal error, "
    "2 usage, 3 partial (files skipped), 4 model unavailable, 5 cache error, 6 input missing, "
    "7 unsafe output, 130 interrupted.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_current_env: Environment | None = None

F = TypeVar("F", bound=Callable[..., Any])


def get_env() -> Environment:
    """The environment of the running invocation (tests inject one through :func:`main`)."""
    global _current_env
    if _current_env is None:
        _current_env = Environment()
    return _current_env


def fail(message: str, code: ExitCode) -> "typer.Exit":
    """Print one line to stderr and return the Exit to raise: ``raise fail(...)``."""
    stderr = get_env().stderr
    stderr.write(f"proxysort: {message}\n")
    stderr.flush()
    return typer.Exit(int(code))


def handle_errors(func: F) -> F:
    """Turn library errors into one sentence on stderr plus a documented exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ProxysortError as err:
            raise fail(str(err), err.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; work finished so far is kept.", ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader of our stdout went away (e.g. `| head`): not an error for a pipeline tool.
            # Point stdout at devnull so the interpreter's final flush does not raise again.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(int(ExitCode.OK)) from None

    return wrapper  # type: ignore[return-value]


def _register_commands() -> None:
    """Import the command modules for their ``@app.command`` side effect (cheap: no heavy imports)."""
    from proxysort.cli import index_cmd, words_cmd, cluster_cmd, eval_cmd  # noqa: F401,I001  (help order)


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> None:
    """Console-script entry point; ``argv``/``env`` let tests run the real CLI in-process."""
    global _current_env
    _current_env = env or Environment()
    _register_commands()
    try:
        app(args=list(argv) if argv is not None else None, prog_name="proxysort", standalone_mode=True)
    finally:
        _current_env = None
