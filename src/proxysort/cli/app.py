"""The Typer application: registers each command module's function and runs one invocation.

Commands live in their own modules (``cli/index_cmd.py``, ...) and import only :mod:`proxysort.cli.options`
and :mod:`proxysort.cli.common`; this module imports them and registers them, so imports flow one way.
"""

from __future__ import annotations

from typing import Annotated, Any, Sequence

import typer
from typer.core import TyperArgument, TyperCommand

from proxysort.cli.clean_cmd import clean_command
from proxysort.cli.cluster_cmd import cluster_command
from proxysort.cli.common import get_env, handle_errors, set_env
from proxysort.cli.eval_cmd import eval_command
from proxysort.cli.index_cmd import index_command, status_command
from proxysort.cli.options import PANELS
from proxysort.cli.show_cmd import show_command
from proxysort.cli.words_cmd import words_command
from proxysort.env import Environment
from proxysort.threads import prepare_environment

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

def _version(value: bool) -> None:
    if value:
        from proxysort import __version__

        get_env().stdout.write(f"proxysort {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    """Sort a folder of photos by the aspect you care about (color, species, pose, ...)."""


class _PlainArgument(TyperArgument):
    """An argument shown as its metavar alone (``DIR...``), not Typer's ``{DIR}`` plus ``<list[Path]>``."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Command(TyperCommand):
    """Typer's command with :class:`_PlainArgument` arguments, so ``--help`` reads like a man page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _PlainArgument

    def format_options(self, ctx: Any, formatter: Any) -> None:  # Typer's own vendored Click types
        """Arguments, then the everyday options, then one section per help panel (``cli/options.PANELS``):
        a newcomer's first screen shows what to sort by and where, not the method's knobs. Typer draws
        panels only in its rich mode, which this app leaves off so that help reads the same in a pipe."""
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                title = "Arguments" if param.param_type_name == "argument" else getattr(param, "rich_help_panel", None)
                sections.setdefault(title or "Options", []).append(record)
        for title in ("Arguments", "Options", *PANELS):
            if sections.get(title):
                with formatter.section(title):
                    formatter.write_dl(sections[title])


#: An example or two per command, shown at the end of its --help (``\b`` keeps Click from rewrapping).
EXAMPLES = {
    "index": [
        "proxysort index ~/Pictures                 # embed every photo once; re-runs are incremental",
        "find ~/Pictures -name '*.jpg' | proxysort index -",
    ],
    "status": ["proxysort status ~/Pictures --json"],
    "words": [
        "proxysort words --by color",
        "proxysort words --by species --noun fruit --json",
    ],
    "cluster": [
        "proxysort cluster ~/photos --by color --k 6           # tree in ~/photos-sorted/color/",
        "proxysort cluster ~/photos --by color --words red,green,yellow --dry-run",
        "proxysort cluster ~/photos --by color --group red --format paths -0 | xargs -0 ls -l",
    ],
    "show": ["proxysort show ~/photos-sorted            # rebuild the review page and open it"],
    "eval": ["proxysort eval ~/photos --by color --labels labels.csv --seeds 10"],
    "clean": [
        "proxysort clean ~/photos-sorted --dry-run  # what proxysort would remove (never your files)",
        "proxysort clean ~/photos-sorted --by color",
    ],
}


def _epilog(name: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in EXAMPLES[name])


# In --help order.
for _name, _command in (
    ("index", index_command),
    ("status", status_command),
    ("words", words_command),
    ("cluster", cluster_command),
    ("show", show_command),
    ("eval", eval_command),
    ("clean", clean_command),
):
    app.command(_name, cls=_Command, epilog=_epilog(_name))(handle_errors(_command))


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> None:
    """Console-script entry point; ``argv``/``env`` let tests run the real CLI in-process."""
    prepare_environment()  # before torch or faiss start OpenMP (a no-op for the runtime once they have)
    set_env(env or Environment())
    try:
        app(args=list(argv) if argv is not None else None, prog_name="proxysort", standalone_mode=True)
    finally:
        set_env(None)
