"""A method's own knobs as a typed, frozen dataclass (modelled on how simonw/llm gives each model its
``Options``): a method subclasses :class:`Options` with annotated fields and defaults, and what a caller
passes is checked against it once, before any photo is indexed. An unknown name (``sampel``) or a value of
the wrong type (``gamma="x"``, ``sample=1.5``) is refused in one sentence naming the option in backticks.

``k`` is never an option: it is an argument of the learner, so it reaches only the methods that use it
and is never hashed into a cache key of a method that does not.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from typing import Any, Mapping, TypeVar

from proxysort.errors import UsageError

OptionsT = TypeVar("OptionsT", bound="Options")


def option(default: Any, help: str, *, minimum: float | None = None, above: float | None = None) -> Any:  # noqa: A002
    """A field of an :class:`Options` class: its default, one line of help, and the least value it takes
    (``minimum``) or the value it must exceed (``above``)."""
    return dataclasses.field(default=default, metadata={"help": help, "minimum": minimum, "above": above})


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every method's options; a method without knobs uses it as it is (no fields)."""

    @classmethod
    def parse(cls: type[OptionsT], given: "Mapping[str, Any] | Options | None", method: str) -> OptionsT:
        """``given`` as this class: an instance passes, a mapping is checked name by name."""
        if given is None:
            return cls()
        if isinstance(given, cls):
            return given
        if isinstance(given, Options) or not isinstance(given, Mapping):
            raise UsageError(f"`options` for method {method} must be a mapping of option names or {cls.__name__}, "
                             f"not {type(given).__name__}.")
        known = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        values = {}
        for name, value in given.items():
            if name == "k":
                raise UsageError("`k` is not an option: pass the number of groups as the `k` argument.")
            if name not in known:
                listed = ", ".join(f"`{n}`" for n in known) or "none"
                raise UsageError(f"`{name}` is not an option of method {method} (its options: {listed}).")
            meta = known[name].metadata
            values[name] = _checked(name, value, hints[name], meta.get("minimum"), meta.get("above"))
        return cls(**values)

    @classmethod
    def describe(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) of every option, for help texts and docs."""
        return [(f.name, f.default, f.metadata.get("help", "")) for f in dataclasses.fields(cls)]

    def values(self) -> dict[str, Any]:
        """Every option's value (defaults included): what a cache key holds."""
        return dataclasses.asdict(self)


def _checked(name: str, value: Any, hint: Any, minimum: float | None, above: float | None) -> Any:
    """``value`` as the type ``hint`` names (int, float, or either with None), or a one-sentence refusal."""
    args = typing.get_args(hint)
    optional = type(None) in args
    kind = next((a for a in args if a is not type(None)), hint) if args else hint
    if value is None and optional:
        return None
    whole = kind is int
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and whole:
        ok = float(value) == int(value)
    if not ok or (minimum is not None and value < minimum) or (above is not None and value <= above):
        what = "a whole number" if whole else "a number"
        least = f", at least {minimum:g}" if minimum is not None else f", above {above:g}" if above is not None else ""
        raise UsageError(f"`{name}` must be {what}{least}, not {value!r}.")
    return int(value) if whole else float(value)
