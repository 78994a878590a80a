"""Errors raised by the codegen toolchain.

Hierarchy::

    CodegenError                  base of everything codegen raises on purpose
    ├── CatalogInvalid            the catalog failed validation; carries every Diagnostic
    ├── SchemaError               a file in schema/ is unusable (bad JSON, unknown construct,
    │                             clashing definition names, a bad x-transitions table)
    ├── GitError                  ``diff git:REF``: git could not show the catalog at REF
    └── HubError                  asking the Hugging Face Hub (``add``, ``verify --online``)
        ├── HubUnavailable        no usable answer: offline, network, timeout, 5xx, 429 past the
        │                         longest wait, a malformed body, the request budget spent (exit 3)
        └── HubAnswer             the Hub answered, definitely, that something is not there
            ├── RepoNotFound      no such repository (404, or the anonymous 401 the Hub gives)
            ├── RevisionNotFound  the revision does not resolve (404 ``RevisionNotFound``)
            ├── EntryNotFound     no such file (404 ``EntryNotFound``)
            └── GatedRepo         gated: no token (401) or a token without access (403)

The CLI turns each of them into one line per problem and exit status 1 (3 for HubUnavailable);
nothing else reaches the user as a traceback.
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


class GitError(CodegenError):
    """``git show REF:PATH`` failed; the message is git's."""


class HubError(CodegenError):
    """Asking the Hub failed."""


class HubUnavailable(HubError):
    """No usable answer from the Hub: the question could not be asked or answered (exit 3)."""


class HubAnswer(HubError):
    """The Hub answered that a repository, revision or file is not there, or not for us."""


class RepoNotFound(HubAnswer):
    """No such repository (or a private one)."""


class RevisionNotFound(HubAnswer):
    """The revision does not resolve."""


class EntryNotFound(HubAnswer):
    """The repository has no such file."""


class GatedRepo(HubAnswer):
    """The repository is gated and the token (if any) has no access."""

    def __init__(self, message: str, *, status: int) -> None:
        """Keep the status: 401 without a token, 403 for a token that was not approved."""
        self.status = status
        super().__init__(message)
