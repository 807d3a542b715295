"""The strict JSON reader for every document that carries trust or configuration.

The trust policy, the rule catalogues, the model registry's manifest and artifacts are read
here rather than by ``json.loads``, which lets the last of two repeated keys win (a policy
with ``"threshold": 3, "threshold": 1`` would need one signature), recurses until
``RecursionError`` on deep nesting, accepts ``NaN`` and ``Infinity`` and turns ``1e400``
into infinity. This reader refuses, with one line naming the document and the place
(line, column and JSON path):

- a repeated member name in any object;
- nesting deeper than ``MAX_DEPTH`` arrays and objects (checked as it descends: the parser
  keeps its own stack and never recurses, so 100,000 opening brackets cost one error);
- ``NaN``, ``Infinity`` and numbers that overflow a double;
- integers outside plus or minus 2^53 - 1 (I-JSON, RFC 7493 section 2.2), which a float
  cannot hold and other readers of the same file would round;
- anything RFC 8259 does not allow (a byte order mark, control characters in strings,
  trailing commas or data, text that is not UTF-8).

It is pure Python (standard library only), in two paths that accept exactly the same
documents. The fast path counts the nesting first (regular expressions, no recursion) and
then lets the C decoder of the ``json`` module parse, with hooks that refuse repeated
names, constants and out-of-range numbers. Whatever it refuses, and anything nested too
deeply, goes to the reference path, an iterative parser that keeps its own stack and names
the line, column and JSON path of the first problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from itertools import accumulate
from json.decoder import JSONDecodeError
from pathlib import Path
from typing import Any

from attestations.errors import AttestationError

# The C string scanner of the json module (typeshed does not declare it).
scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

MAX_DEPTH = 64
MAX_SAFE_INTEGER = 2**53 - 1

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERALS = {"true": True, "false": False, "null": None}
_NON_FINITE = ("NaN", "Infinity", "-Infinity")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class StrictJSONError(AttestationError, ValueError):
    """A document is not strict JSON; the message is one line: ``<source>: <place>: <problem>``."""

    def __init__(self, source: str, place: str, problem: str) -> None:
        super().__init__(f"{source}: {place}: {problem}")
        self.source, self.place, self.problem = source, place, problem


class _Frame:
    """One open array or object on the parser's own stack."""

    __slots__ = ("container", "key")

    def __init__(self, container: dict[str, Any] | list[Any]) -> None:
        self.container = container
        self.key: str | None = None  # the member being read, in an object


def _json_path(stack: list[_Frame]) -> str:
    """``$.keys[2].alg``; the middle of a very deep path is elided."""
    if len(stack) > 12:
        return f"{_json_path(stack[:4])}...({len(stack) - 8} levels)...{_json_path(stack[-4:])[1:]}"
    parts = ["$"]
    for frame in stack:
        if isinstance(frame.container, list):
            parts.append(f"[{len(frame.container)}]")
        elif frame.key is not None:
            key = frame.key
            parts.append(f".{key}" if _IDENTIFIER.fullmatch(key) else f"[{key!r}]")
    return "".join(parts)


class _Parser:
    """An iterative recursive-descent parser over one text (one instance per document)."""

    def __init__(self, text: str, source: str, max_depth: int, max_int: int) -> None:
        self.text, self.source = text, source
        self.max_depth, self.max_int = max_depth, max_int
        self.stack: list[_Frame] = []

    def fail(self, pos: int, problem: str) -> StrictJSONError:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return StrictJSONError(
            self.source, f"line {line} column {column} ({_json_path(self.stack)})", problem
        )

    def ws(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        return match.end() if match else pos

    def char(self, pos: int) -> str:
        if pos >= len(self.text):
            raise self.fail(pos, "unexpected end of document")
        return self.text[pos]

    def string(self, pos: int) -> tuple[str, int]:
        """The string whose opening quote is at ``pos``."""
        try:
            value, end = scanstring(self.text, pos + 1, True)
        except JSONDecodeError as exc:
            raise self.fail(exc.pos, exc.msg) from None
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise self.fail(pos, "string holds an escaped lone surrogate") from None
        return value, end

    def number(self, pos: int) -> tuple[int | float, int]:
        match = _NUMBER.match(self.text, pos)
        if match is None:
            raise self.fail(pos, "expected a value")
        whole, fraction, exponent = match.groups()
        literal = match.group(0)
        if fraction is None and exponent is None:
            digits = len(whole.lstrip("-"))
            if digits > len(str(self.max_int)) or abs(int(whole)) > self.max_int:
                shown = literal if len(literal) <= 40 else f"{literal[:20]}...({digits} digits)"
                raise self.fail(pos, f"integer {shown} is outside plus or minus {self.max_int}")
            return int(whole), match.end()
        value = float(literal)
        if not math.isfinite(value):
            raise self.fail(pos, f"number {literal[:40]} overflows a double")
        return value, match.end()

    def scalar(self, pos: int) -> tuple[Any, int]:
        ch = self.char(pos)
        if ch == '"':
            return self.string(pos)
        for word, value in _LITERALS.items():
            if self.text.startswith(word, pos):
                return value, pos + len(word)
        for word in _NON_FINITE:
            if self.text.startswith(word, pos):
                raise self.fail(pos, f"{word} is not a JSON number")
        return self.number(pos)

    def key(self, pos: int) -> int:
        """Read ``"name" :`` into the top object frame; the position after the colon."""
        frame = self.stack[-1]
        if self.char(pos) != '"':
            raise self.fail(pos, "expected a member name in double quotes")
        name, pos = self.string(pos)
        assert isinstance(frame.container, dict)
        if name in frame.container:
            frame.key = name
            raise self.fail(pos, f"repeated member name {name!r}")
        frame.key = name
        pos = self.ws(pos)
        if self.char(pos) != ":":
            raise self.fail(pos, "expected ':' after the member name")
        return pos + 1

    def open(self, pos: int, container: dict[str, Any] | list[Any]) -> tuple[bool, int]:
        """Enter the array or object whose bracket is at ``pos``; (True, pos) when empty."""
        if len(self.stack) >= self.max_depth:
            raise self.fail(pos, f"nesting deeper than {self.max_depth} arrays and objects")
        closing = "}" if isinstance(container, dict) else "]"
        after = self.ws(pos + 1)
        if self.char(after) == closing:
            return True, after + 1
        self.stack.append(_Frame(container))
        return False, self.key(after) if isinstance(container, dict) else after

    def value_start(self, pos: int) -> tuple[Any, int, bool]:
        """Read a scalar or open a container at ``pos``: (value, pos, complete)."""
        ch = self.char(pos)
        if ch in "{[":
            container: dict[str, Any] | list[Any] = {} if ch == "{" else []
            empty, pos = self.open(pos, container)
            return container, pos, empty
        value, pos = self.scalar(pos)
        return value, pos, True

    def close(self, value: Any, pos: int) -> tuple[Any, int, bool]:
        """Add a finished ``value`` to the open containers, closing those that end here:
        (the document, its end, True) when it is complete, else (None, the next value's
        position, False)."""
        while self.stack:
            frame = self.stack[-1]
            if isinstance(frame.container, dict):
                assert frame.key is not None
                frame.container[frame.key] = value
            else:
                frame.container.append(value)
            pos = self.ws(pos)
            ch = self.char(pos)
            if ch == ",":
                pos = self.ws(pos + 1)
                return None, self.key(pos) if isinstance(frame.container, dict) else pos, False
            if ch != ("}" if isinstance(frame.container, dict) else "]"):
                raise self.fail(pos, f"expected ',' or a closing bracket, found {ch!r}")
            value, pos = self.stack.pop().container, pos + 1
        return value, pos, True

    def document(self) -> Any:
        pos = self.ws(0)
        if pos == len(self.text):
            raise self.fail(pos, "empty document")
        while True:
            value, pos, complete = self.value_start(self.ws(pos))
            if complete:
                value, pos, complete = self.close(value, pos)
                if complete:
                    break
        end = self.ws(pos)
        if end != len(self.text):
            raise self.fail(end, "extra data after the document")
        return value


class _Refused(Exception):
    """The fast path saw something the reference path must name."""


def _depth(text: str) -> int:
    """The deepest nesting of ``text``, never less than the truth (brackets inside strings
    are removed first; an unterminated string's brackets are counted)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_BRACKET_STEP[b] for b in brackets), default=0)


def _fast(text: str, max_int: int) -> Any:
    """The C decoder with hooks that refuse what this module refuses (raising ``_Refused``)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            raise _Refused
        return obj

    def integer(literal: str) -> int:
        if len(literal) > 20 or abs(value := int(literal)) > max_int:
            raise _Refused
        return value

    def number(literal: str) -> float:
        if not math.isfinite(value := float(literal)):
            raise _Refused
        return value

    def constant(_: str) -> Any:
        raise _Refused

    decoder = json.JSONDecoder(
        object_pairs_hook=pairs, parse_int=integer, parse_float=number, parse_constant=constant
    )
    return decoder.decode(text)


def loads(
    data: str | bytes,
    *,
    source: str = "JSON document",
    max_depth: int = MAX_DEPTH,
    max_int: int = MAX_SAFE_INTEGER,
) -> Any:
    """Parse one strict JSON document (bytes must be UTF-8).

    Raises:
        StrictJSONError: the document breaks one of the rules of this module.
    """
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJSONError(source, f"byte {exc.start}", "not UTF-8") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        raise StrictJSONError(source, "line 1 column 1", "starts with a byte order mark")
    if _depth(text) <= max_depth and not _SURROGATE_ESCAPE.search(text):
        try:
            return _fast(text, max_int)
        except (_Refused, ValueError, RecursionError):
            pass  # the reference path names the problem
    return _Parser(text, source, max_depth, max_int).document()


def load_path(path: str | Path, *, max_depth: int = MAX_DEPTH, max_int: int = MAX_SAFE_INTEGER) -> Any:
    """Read and parse the file at ``path``; errors name the file.

    Raises:
        StrictJSONError: the file is not strict JSON.
        OSError: the file cannot be read.
    """
    return loads(Path(path).read_bytes(), source=str(path), max_depth=max_depth, max_int=max_int)
