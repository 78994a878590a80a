"""Parse JSON text and locate its values by JSON pointer.

The standard library parses (it is the authority on syntax and it is fast); this module only
answers *where*: the line and column of the value or key at a pointer, the pointer at which a
syntax error occurred, and where an object repeats a key (which ``json`` silently collapses).

Why hand-written: no maintained library maps JSON pointers to source positions (json-source-map
last released in 2022), and a walk that reuses ``json.decoder.scanstring`` and the stdlib number
pattern is short. It runs only when there is something to report, so valid catalogs never pay it.
"""

from __future__ import annotations

import bisect
import json
import json.scanner
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codegen.diagnostics import join_pointer

if TYPE_CHECKING:
    from collections.abc import Callable

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_LITERALS = ("true", "false", "null")
#: The C string scanner behind ``json.loads`` (typeshed does not declare it).
_scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


class DuplicateKeyError(ValueError):
    """An object repeats a key."""


@dataclass(frozen=True)
class SyntaxProblem:
    """Where and why the text is not JSON."""

    line: int
    column: int
    pointer: str
    message: str


@dataclass
class SourceMap:
    """Offsets of every value and key in a JSON text, by pointer."""

    text: str
    values: dict[str, int] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)
    _line_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Index line starts once, so offsets convert in O(log n)."""
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", self.text))]

    def line_column(self, offset: int) -> tuple[int, int]:
        """Turn a character offset into a 1-based (line, column)."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def locate(self, pointer: str, *, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``pointer`` (of its key when ``key``), else of its nearest ancestor."""
        table = self.keys if key else self.values
        if pointer in table:
            return self.line_column(table[pointer])
        while pointer:
            pointer = pointer.rsplit("/", 1)[0]
            if pointer in self.values:
                return self.line_column(self.values[pointer])
        return 1, 1


class _Stop(Exception):
    """The walk met text that is not JSON."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Walker:
    """Records the offset of every value and key while walking a JSON text."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.text = source.text
        self.path: list[str | int] = []

    def skip(self, offset: int) -> int:
        match = _WHITESPACE.match(self.text, offset)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def expect(self, offset: int, char: str) -> int:
        offset = self.skip(offset)
        if self.text[offset : offset + 1] != char:
            raise _Stop(offset)
        return offset + 1

    def value(self, offset: int) -> int:
        offset = self.skip(offset)
        self.source.values.setdefault(join_pointer(self.path), offset)
        char = self.text[offset : offset + 1]
        if char == "{":
            return self.object(offset + 1)
        if char == "[":
            return self.array(offset + 1)
        if char == '"':
            return self.string(offset)
        number = json.scanner.NUMBER_RE.match(self.text, offset)
        if number is not None:
            return number.end()
        for literal in _LITERALS:
            if self.text.startswith(literal, offset):
                return offset + len(literal)
        raise _Stop(offset)

    def string(self, offset: int) -> int:
        try:
            _, end = _scan_string(self.text, offset + 1)
        except json.JSONDecodeError as error:
            raise _Stop(error.pos) from None
        return end

    def object(self, offset: int) -> int:
        offset = self.skip(offset)
        if self.text[offset : offset + 1] == "}":
            return offset + 1
        seen: set[str] = set()
        while True:
            offset = self.skip(offset)
            if self.text[offset : offset + 1] != '"':
                raise _Stop(offset)
            key_offset = offset
            try:
                key, offset = _scan_string(self.text, offset + 1)
            except json.JSONDecodeError as error:
                raise _Stop(error.pos) from None
            self.path.append(key)
            pointer = join_pointer(self.path)
            if key in seen:
                self.source.duplicate_keys.append((pointer, key_offset))
            else:
                seen.add(key)
                self.source.keys[pointer] = key_offset
            offset = self.value(self.expect(offset, ":"))
            self.path.pop()
            offset = self.skip(offset)
            char = self.text[offset : offset + 1]
            if char == "}":
                return offset + 1
            if char != ",":
                raise _Stop(offset)
            offset += 1

    def array(self, offset: int) -> int:
        offset = self.skip(offset)
        if self.text[offset : offset + 1] == "]":
            return offset + 1
        index = 0
        while True:
            self.path.append(index)
            offset = self.value(offset)
            self.path.pop()
            offset = self.skip(offset)
            char = self.text[offset : offset + 1]
            if char == "]":
                return offset + 1
            if char != ",":
                raise _Stop(offset)
            offset += 1
            index += 1


def map_source(text: str) -> tuple[SourceMap, str | None]:
    """Walk ``text``; return its map and, if it is not JSON, the pointer where the walk stopped."""
    source = SourceMap(text)
    walker = _Walker(source)
    try:
        end = walker.value(0)
        if walker.skip(end) != len(text):
            raise _Stop(walker.skip(end))
    except _Stop:
        return source, join_pointer(walker.path)
    except RecursionError:
        return source, join_pointer(walker.path[:50])
    return source, None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise DuplicateKeyError
    return result


def parse(text: str) -> tuple[Any, SyntaxProblem | None, bool]:
    """Parse ``text`` with the standard library.

    Returns ``(value, problem, has_duplicate_keys)``: ``problem`` is set, and ``value`` is None, when
    the text is not JSON; ``has_duplicate_keys`` tells the caller to map the source to find them.
    """
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates), None, False
    except DuplicateKeyError:
        return json.loads(text), None, True
    except json.JSONDecodeError as error:
        _, pointer = map_source(text)
        return None, SyntaxProblem(error.lineno, error.colno, pointer or "", error.msg), False
    except RecursionError:
        return None, SyntaxProblem(1, 1, "", "nesting is too deep"), False
