"""JSON read a value at a time from text that arrives in pieces, for documents too large to hold whole.

``json.loads`` needs the whole text and gives every value as a Python object at once: a manifest of
millions of files is then gigabytes of text and dicts before a single entry is checked (issue 25). Here the
containers a caller walks (:meth:`JSONStream.items`, :meth:`JSONStream.keys`) are read in Python a
delimiter at a time, and the values inside them (one file entry, one member) are decoded whole by the
standard library's C scanner (``JSONDecoder.raw_decode``), so the text held is one piece plus one value.

Bounds against hostile input: no value decoded whole may span more than ``value_limit`` characters
(:class:`TooLarge`), and a value nested past the interpreter's recursion limit is :class:`TooDeep` (both
say so in one sentence, as ``json.loads`` would only by a traceback); the caller bounds the total by what it
feeds in. Syntax errors are :class:`JSONSyntaxError`, worded as ``json`` words them, with the line and column
of the whole text.
"""

from __future__ import annotations

import json
import re
from typing import Iterator

_WS = re.compile(r"[ \t\n\r]*")
_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")
_DECODER = json.JSONDecoder()
#: Characters a value must end before the end of the text read so far to be taken as complete (longest cut:
#: "-Infinity", a number's exponent).
_LOOKAHEAD = 16


class JSONSyntaxError(ValueError):
    """The text is not JSON; the message is ``json``'s (``Expecting ',' delimiter: line 3 column 5 (char 20)``)."""


class TooLarge(ValueError):
    """One value is longer than the reader's ``value_limit``."""


class TooDeep(ValueError):
    """One value is nested past what the decoder can recurse through."""


class JSONStream:
    """A cursor over JSON text given as an iterator of pieces (each ``str``; any split, even inside a value).

    The caller walks the document: :meth:`peek` says what the next value starts with; :meth:`value` decodes it
    whole; :meth:`items` and :meth:`keys` enter an array or object and stop at each element or key, and the
    caller then reads exactly one value (by any of the three) before asking for the next.
    """

    def __init__(self, pieces: Iterator[str], *, value_limit: int) -> None:
        self._pieces = pieces
        self._limit = value_limit
        self._buf = ""
        self._pos = 0
        self._base = 0  # characters of the text before _buf
        self._lines = 0  # newlines before _buf
        self._last_newline = -1  # offset in the text of the last newline before _buf
        self._eof = False

    # ------------------------------------------------------------------------------------------ the text

    def _more(self) -> bool:
        """Append the next piece (dropping what was read); False at the end of the text."""
        while not self._eof:
            piece = next(self._pieces, None)
            if piece is None:
                self._eof = True
                break
            if piece:
                self._drop()
                self._buf += piece
                return True
        return False

    def _drop(self) -> None:
        """Forget the text before the cursor (counting its lines for messages)."""
        pos = self._pos
        if pos:
            newlines = self._buf.count("\n", 0, pos)
            if newlines:
                self._lines += newlines
                self._last_newline = self._base + self._buf.rfind("\n", 0, pos)
            self._buf = self._buf[pos:]
            self._base += pos
            self._pos = 0

    def _error(self, message: str, pos: int) -> JSONSyntaxError:
        """``json``'s wording for an error at ``pos`` in the buffer, located in the whole text. Text that starts
        with a byte order mark fails at it, said as ``json.loads`` says it (an editor that saved the file so)."""
        if self._base + pos == 0 and self._buf.startswith("\ufeff"):
            message = "Unexpected UTF-8 BOM (decode using utf-8-sig)"
        line = self._lines + self._buf.count("\n", 0, pos) + 1
        newline = self._buf.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self._base + pos - self._last_newline
        return JSONSyntaxError(f"{message}: line {line} column {column} (char {self._base + pos})")

    def _skip(self) -> str:
        """Move past whitespace; the next character ("" at the end of the text)."""
        while True:
            self._pos = _WS.match(self._buf, self._pos).end()  # type: ignore[union-attr]  # always matches
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def peek(self) -> str:
        """The first character of the next value ("" at the end of the text)."""
        return self._skip()

    # ---------------------------------------------------------------------------------------- the values

    def value(self) -> object:
        """The next value, decoded whole (at most ``value_limit`` characters of text)."""
        self._skip()
        while True:
            buf, pos = self._buf, self._pos
            try:
                value, end = _DECODER.raw_decode(buf, pos)
            except RecursionError:
                raise TooDeep("nested too deeply") from None
            except json.JSONDecodeError as exc:
                # Text that ends inside the value (or inside a string of it) may be a value cut by a piece.
                cut = exc.pos > len(buf) - _LOOKAHEAD or exc.msg.startswith("Unterminated string")
                if cut and self._grow():
                    continue
                raise self._error(exc.msg, exc.pos) from None
            except ValueError as exc:  # e.g. an integer of more digits than Python converts
                raise self._error(str(exc), pos) from None
            # A number that ends where the text read so far ends may go on in the next piece ("1" of "1e5").
            if end > len(buf) - _LOOKAHEAD and self._grow():
                continue
            if end - pos > self._limit:  # it came whole in the text read already: still too long
                raise TooLarge(f"a value is longer than {self._limit} characters")
            self._pos = end
            return value

    def _grow(self) -> bool:
        """Read more text for a value that did not decode yet, or that may go on; False when there is no more.
        A value that needs more than ``value_limit`` characters is :class:`TooLarge`: more than that and the
        lookahead held, since a value of at most ``value_limit`` may end up to the lookahead before the end of
        the text read (whether it is whole, the decode after this read says; any piece split reads the same)."""
        if len(self._buf) - self._pos > self._limit + _LOOKAHEAD:
            raise TooLarge(f"a value is longer than {self._limit} characters")
        return self._more()

    def items(self) -> Iterator[None]:
        """Enter the array that comes next: stops once before each element (read it, then go on)."""
        if self._skip() != "[":
            raise self._error("Expecting value", self._pos)
        self._pos += 1
        if self._skip() == "]":
            self._pos += 1
            return
        while True:
            yield None
            comma = _COMMA.match(self._buf, self._pos)  # the usual case in one step: ",\n  " before the next
            if comma is not None and comma.end() < len(self._buf):
                self._pos = comma.end()
                continue
            char = self._skip()
            self._pos += 1
            if char == "]":
                return
            if char != ",":
                raise self._error("Expecting ',' delimiter", self._pos - 1)

    def keys(self) -> Iterator[str]:
        """Enter the object that comes next: gives each key, the cursor then at its value (read it, then go on)."""
        if self._skip() != "{":
            raise self._error("Expecting value", self._pos)
        self._pos += 1
        char = self._skip()
        if char == "}":
            self._pos += 1
            return
        while True:
            if char != '"':
                raise self._error("Expecting property name enclosed in double quotes", self._pos)
            key = self.value()
            assert isinstance(key, str)
            if self._skip() != ":":
                raise self._error("Expecting ':' delimiter", self._pos)
            self._pos += 1
            yield key
            char = self._skip()
            self._pos += 1
            if char == "}":
                return
            if char != ",":
                raise self._error("Expecting ',' delimiter", self._pos - 1)
            char = self._skip()

    def end(self) -> None:
        """Check that nothing but whitespace follows the document's one value."""
        if self._skip():
            raise self._error("Extra data", self._pos)
