"""Errors raised by the codegen toolchain.

Hierarchy::

    CodegenError                  base of everything codegen raises on purpose
    ├── CatalogInvalid            the catalog failed validation; carries every Diagnostic
    └── SchemaError               a file in schema/ is unusable (bad JSON, unknown construct,
                                  clashing definition names, a bad x-transitions table)

The CLI turns each of them into one line per problem and exit status 1; nothing else
reaches the user as a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codegen.diagnostics import Diagnostic


class CodegenError(Exception):
    """Base class of every error the codegen toolchain raises on purpose."""


class CatalogInvalid(CodegenError):
    """The catalog failed validation."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        """Keep every diagnostic, already sorted by position."""
        self.diagnostics = diagnostics
        super().__init__(f"{len(diagnostics)} problem(s) in the catalog")


class SchemaError(CodegenError):
    """A schema file is unusable for code generation."""
