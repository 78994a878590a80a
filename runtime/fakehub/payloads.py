"""What the fake Hub answers: model info, and the Hub's errors, redirects and rate limits.

Model info is the recorded body for a fixture repo, byte for byte, and otherwise a body shaped like the
recorded ones, made deterministically from the repo id and its catalog entries. Errors follow the Hub:
``{"error": "..."}`` with ``X-Error-Code`` and ``X-Error-Message`` (the Hub's documented error shape).
"""

from __future__ import annotations

import hashlib
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec

from generated.types import ModelFormat
from runtime.fakehub.blobs import siblings

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar.types import Receive, Scope, Send

    from runtime.fakehub.repos import Repo

JSON = b"application/json; charset=utf-8"
TEXT = b"text/plain; charset=utf-8"
CREATED_AT = "2024-06-03T09:12:45.000Z"
LAST_MODIFIED = "2025-02-14T16:20:31.000Z"
RATE_LIMITED = b'{"error":"Rate limit reached. Please log in or use a HF access token"}'
"""The recorded 429 body (``errors/inference-api.rate_limited_429``)."""
QUOTAS = {"api": 500, "resolvers": 3000}
"""Anonymous requests per 5-minute window, per bucket (the Hub's rate-limit docs)."""
_EXPOSED = (
    b"access-control-expose-headers",
    b"X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range",
)
_PARAMETERS = re.compile(r"(\d+(?:\.\d+)?)([KMBT])")
_SCALE = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


class Fixed:
    """An ASGI app that sends one fixed response (only the headers to a HEAD request)."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, body: bytes, *, status: int = 200, content_type: bytes = JSON, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        """Hold the response; content type, length and the Hub's exposed-headers list are added here."""
        self.status, self.body = status, body
        self.headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), _EXPOSED]
        self.headers += headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body, "more_body": False})


def error(status: int, message: str, *, code: str | None = None, headers: Iterable[tuple[bytes, bytes]] = ()) -> Fixed:
    """An error as the Hub sends it: ``{"error": message}`` plus ``X-Error-Message`` (and ``X-Error-Code``)."""
    extra = [(b"x-error-message", message.encode("ascii", "replace"))]
    if code is not None:
        extra.append((b"x-error-code", code.encode()))
    return Fixed(msgspec.json.encode({"error": message}), status=status, headers=[*extra, *headers])


def repo_not_found(*, authorized: bool) -> Fixed:
    """401 to an anonymous caller (the Hub hides whether the repo exists), 404 to one with a token."""
    if not authorized:
        challenge = (b"www-authenticate", b'Bearer realm="Authentication required", charset="UTF-8"')
        return error(401, "Invalid username or password.", code="RepoNotFound", headers=[challenge])
    return error(404, "Repository not found", code="RepoNotFound")


def revision_not_found(revision: str) -> Fixed:
    """404 ``RevisionNotFound``: only ``main`` and 40-hex commit ids exist here."""
    return error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")


def entry_not_found() -> Fixed:
    """404 ``EntryNotFound``: the repo has no such file."""
    return error(404, "Entry not found", code="EntryNotFound")


def gated(repo_id: str) -> Fixed:
    """401 ``GatedRepo``: an anonymous download from a gated repo."""
    message = (
        f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. "
        "Please log in."
    )
    return error(401, message, code="GatedRepo")


def gated_denied(repo_id: str) -> Fixed:
    """403 ``GatedRepo``: a token that the gated repo has not approved."""
    message = (
        f"Access to model {repo_id} is restricted and you are not in the authorized list. "
        f"Visit https://huggingface.co/{repo_id} to ask for access."
    )
    return error(403, message, code="GatedRepo")


def server_error(status: int) -> Fixed:
    """An injected error status with a Hub-style body."""
    if status == 500:
        return error(500, "Internal Error - We're working hard to fix this as soon as possible!")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return error(status, phrase)


def rate_limited(*, retry_after: int, reset: int, bucket: str) -> Fixed:
    """429 with ``Retry-After`` and the IETF draft ``RateLimit`` / ``RateLimit-Policy`` headers the Hub sends."""
    headers = [
        (b"retry-after", str(retry_after).encode()),
        (b"ratelimit", f'"{bucket}";r=0;t={reset}'.encode()),
        (b"ratelimit-policy", f'"fixed window";"{bucket}";q={QUOTAS.get(bucket, 500)};w=300'.encode()),
    ]
    return Fixed(RATE_LIMITED, status=429, headers=headers)


def redirect(location: str) -> Fixed:
    """307 to a renamed repo, with a relative ``Location`` and a text body, as the Hub answers."""
    body = f"Temporary Redirect. Redirecting to {location}".encode()
    return Fixed(body, status=307, content_type=TEXT, headers=[(b"location", location.encode())])


def _parameters(text: object) -> int | None:
    match = _PARAMETERS.match(text) if isinstance(text, str) else None
    return None if match is None else round(float(match.group(1)) * _SCALE[match.group(2)])


def _generated(repo: Repo, repo_id: str, sha: str) -> dict[str, Any]:
    digest = hashlib.sha256(repo.id.encode()).digest()  # a renamed repo keeps its _id and counts
    models = repo.models
    is_gguf = any(m.format == ModelFormat.gguf for m in models) or any(p.endswith(".gguf") for p in repo.files)
    licence = next((m.license for m in models if isinstance(m.license, str)), None)
    parameters = next((n for n in (_parameters(m.parameter_count) for m in models) if n), None)
    context = next((m.context_length for m in models if isinstance(m.context_length, int)), None)
    tags = ["gguf"] if is_gguf else ["transformers", "safetensors"]
    tags += [tag for model in models for tag in model.tags]
    tags += ["text-generation", *([f"license:{licence}"] if licence else [])]
    tags += ["endpoints_compatible", "region:us", "conversational"]
    info: dict[str, Any] = {
        "_id": digest[:12].hex(),
        "id": repo_id,
        "private": False,
        "pipeline_tag": "text-generation",
        "library_name": "gguf" if is_gguf else "transformers",
        "tags": list(dict.fromkeys(tags)),
        "downloads": 1_000 + int.from_bytes(digest[12:20], "big") % 2_000_000,
        "likes": 5 + int.from_bytes(digest[20:24], "big") % 3_000,
        "modelId": repo_id,
        "author": repo_id.partition("/")[0],
        "sha": sha,
        "lastModified": LAST_MODIFIED,
        "gated": repo.gated_mode or False,
        "disabled": False,
        "model-index": None,
        "config": {},
        "cardData": {"license": licence} if licence else {},
    }
    if is_gguf and parameters:
        info["gguf"] = {"total": parameters, **({"context_length": context} if context else {})}
    elif parameters:
        info["safetensors"] = {"parameters": {"BF16": parameters}, "total": parameters}
    info["siblings"] = [{"rfilename": path} for path in sorted(repo.files)]
    info["spaces"] = []
    info["createdAt"] = CREATED_AT
    info["usedStorage"] = sum(repo.files.values())
    return info


def model_info(repo: Repo, *, repo_id: str | None = None, revision: str | None = None, blobs: bool = False) -> bytes:
    """The ``/api/models/{repo_id}`` body of ``repo``.

    Args:
        repo: The repo.
        repo_id: The id to answer with, when it differs from ``repo.id`` (a renamed repo).
        revision: A 40-hex commit asked for, which a generated body reports as its ``sha``.
        blobs: ``?blobs=true``: each sibling also has ``blobId``, ``size`` and, for LFS files, ``lfs``.

    Returns:
        The recorded body, unchanged, for a fixture repo under its own id without ``blobs``; otherwise JSON
        (a fixture's siblings with blobs are its recorded names plus the files the fake Hub serves).
    """
    served = repo_id or repo.id
    if repo.fixture is not None:
        if served == repo.id and not blobs and repo.gated_mode is None:
            return repo.fixture
        recorded = msgspec.json.decode(repo.fixture)
        recorded.update(id=served, modelId=served, author=served.partition("/")[0])
        if repo.gated_mode is not None:
            recorded["gated"] = repo.gated_mode
        if blobs:
            names = [item["rfilename"] for item in recorded.get("siblings", ()) if isinstance(item, dict)]
            recorded["siblings"] = siblings(repo, [*names, *repo.files], blobs=True)
        return msgspec.json.encode(recorded)
    info = _generated(repo, served, revision or repo.sha)
    if blobs:
        info["siblings"] = siblings(repo, repo.files, blobs=True)
    return msgspec.json.encode(info)
