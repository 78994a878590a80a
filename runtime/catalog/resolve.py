"""Which catalog model a register request names: by id, or by repository (case-insensitive)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.errors import ModelNotSupported, ValidationFailed

if TYPE_CHECKING:
    from collections.abc import Mapping

    from generated.types import SupportedModel

__all__ = ["resolve"]


def resolve(catalog: Mapping[str, SupportedModel], model_id: str | None, repo: str | None, filename: str | None) -> str:
    """The catalog id that ``model_id``, or ``repo`` with an optional ``filename``, names."""
    if model_id is not None:
        if repo is not None or filename is not None:
            raise ValidationFailed("Give either model_id, or repo (with an optional filename), not both.")
        if model_id not in catalog:
            raise ModelNotSupported(f"{model_id!r} is not in the catalog.", pointer="/model_id")
        return model_id
    if repo is None:
        raise ValidationFailed("The body needs model_id, or repo with an optional filename.")
    matches = [m for m in catalog.values() if m.repo.casefold() == repo.casefold()]
    if filename is not None:
        matches = [m for m in matches if m.recommended_filename == filename]
    if not matches:
        what = f"{repo}" + (f" with file {filename}" if filename else "")
        raise ModelNotSupported(f"No catalog model comes from {what}.", pointer="/repo")
    if len(matches) > 1:
        files = ", ".join(m.recommended_filename for m in matches)
        raise ValidationFailed(
            f"{repo} holds several catalog models; give filename (one of: {files}).", pointer="/filename"
        )
    return matches[0].id
