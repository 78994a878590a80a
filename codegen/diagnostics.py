"""One validation problem, located by file, line, column and JSON pointer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem in a JSON file.

    Field order is the sort order: by file, then by position, so the output reads top to bottom.
    """

    file: str
    line: int
    column: int
    pointer: str
    message: str

    def format(self) -> str:
        """Render as ``FILE:LINE:COL: /json/pointer: message`` (the root pointer prints as ``/``)."""
        return f"{self.file}:{self.line}:{self.column}: {self.pointer or '/'}: {self.message}"


def escape_pointer_token(token: str | int) -> str:
    """Escape one reference token of a JSON pointer (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """Build a JSON pointer from path parts; the empty path is the root, ``""``."""
    return "".join("/" + escape_pointer_token(part) for part in parts)


@dataclass(frozen=True)
class Finding:
    """A problem found before positions are known: where (pointer) and what (message).

    ``at_key`` places it on the property name rather than on the value, for problems such as an
    unknown property.
    """

    pointer: str
    message: str
    at_key: bool = False
