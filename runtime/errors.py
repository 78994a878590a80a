"""The runtime's errors and the one place that turns them into responses.

Hierarchy (``code`` is the wire code, the number the HTTP status)::

    AppError                       500 internal_error: a bug or a broken dependency
    ├── DatabaseUnavailable        503 database_unavailable: retry once the database is back
    └── AppClientError             the caller can fix it
        ├── ModelNotSupported      404 model_not_supported
        ├── NotRegistered          404 not_registered
        ├── NodeNotFound           404 node_not_found
        ├── AlreadyRegistered      409 already_registered
        ├── InvalidTransition      409 invalid_transition
        ├── ValidationFailed       422 validation_error
        ├── MalformedBody          400 validation_error: the body is not UTF-8 JSON
        ├── UnsupportedMediaType   415 unsupported_media_type
        ├── Unauthorized           401 unauthorized
        └── Forbidden              403 forbidden

Services raise these; they never raise HTTPException. ``exception_handlers`` maps them, and
Litestar's own HTTP errors (bad JSON, unknown route, oversized body), to the one error body
``{"error": {"code", "message", "pointer"?}}``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import MediaType, Response
from litestar.exceptions import HTTPException, ValidationException

from generated.types import ErrorBody, ErrorDetail

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

logger = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error the runtime raises on purpose."""

    status_code = 500
    code = "internal_error"
    message = "Something went wrong on the server."

    def __init__(self, message: str | None = None, *, pointer: str | None = None) -> None:
        """Use the class's fixed message unless a more specific one is given.

        ``pointer`` is the JSON pointer of the part of the request body at fault, when there is one.
        """
        self.message = message or self.message
        self.pointer = pointer
        super().__init__(self.message)


class DatabaseUnavailable(AppError):
    """The database cannot be reached; nothing was written and the request may be retried."""

    status_code = 503
    code = "database_unavailable"
    message = "The database cannot be reached; try again shortly."


class AppClientError(AppError):
    """An error the caller can fix."""

    status_code = 400
    code = "bad_request"
    message = "The request is not valid."


class ModelNotSupported(AppClientError):
    """The model is not in the catalog."""

    status_code = 404
    code = "model_not_supported"
    message = "This model is not in the catalog."


class NotRegistered(AppClientError):
    """The model is in the catalog but not registered."""

    status_code = 404
    code = "not_registered"
    message = "This model is not registered."


class NodeNotFound(AppClientError):
    """No node has this runtime id."""

    status_code = 404
    code = "node_not_found"
    message = "No node has this runtime id."


class AlreadyRegistered(AppClientError):
    """The model is registered already."""

    status_code = 409
    code = "already_registered"
    message = "This model is already registered."


class InvalidTransition(AppClientError):
    """The change is not allowed from the current state."""

    status_code = 409
    code = "invalid_transition"
    message = "This change is not allowed in the current state."


class ValidationFailed(AppClientError):
    """The request body is malformed or breaks a rule; the message names the field."""

    status_code = 422
    code = "validation_error"
    message = "The request is not valid."


class MalformedBody(AppClientError):
    """The request body is not UTF-8 JSON (one that parses but breaks the schema is ``ValidationFailed``)."""

    status_code = 400
    code = "validation_error"
    message = "The request body is not valid."


class PayloadTooLarge(AppClientError):
    """413: a request body over the server's limit (``MODELHUB_MAX_BODY_BYTES``)."""

    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(AppClientError):
    """A request body that is not JSON."""

    status_code = 415
    code = "unsupported_media_type"
    message = "The request body must be JSON."


class Unauthorized(AppClientError):
    """No token, or a token the server does not know."""

    status_code = 401
    code = "unauthorized"
    message = "A valid bearer token is required."


class Forbidden(AppClientError):
    """A valid token of the wrong kind, or an action the caller may not take now."""

    status_code = 403
    code = "forbidden"
    message = "This token may not do that."


_INTERNAL = "Something went wrong on the server."

_HTTP_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    426: "upgrade_required",
    429: "rate_limited",
}


def error_response(
    status_code: int, code: str, message: str, headers: dict[str, str] | None = None, pointer: str | None = None
) -> Response[bytes]:
    """The one error body, pre-encoded."""
    return Response(
        error_body(code, message, pointer), status_code=status_code, media_type=MediaType.JSON, headers=headers
    )


def error_body(code: str, message: str, pointer: str | None = None) -> bytes:
    """The bytes of the one error body."""
    detail = ErrorDetail(code=code, message=message) if pointer is None else ErrorDetail(code, message, pointer)
    return msgspec.json.encode(ErrorBody(error=detail))


def error_answer(error: Exception) -> tuple[int, bytes]:
    """The status and error body for an error a handler let through; logged when it is the server's fault.

    For handlers outside Litestar's exception handling (the heartbeat lane); ``exception_handlers``
    answer the same for everything else.
    """
    if isinstance(error, AppError):
        if error.status_code >= 500:
            logger.error("request failed: %s", error.message)
        return error.status_code, error_body(error.code, error.message, error.pointer)
    logger.exception("unhandled error", exc_info=error)
    return 500, error_body("internal_error", _INTERNAL)


def _app_error(_: Request[Any, Any, Any], error: AppError) -> Response[bytes]:
    status, body = error_answer(error)
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _validation_message(error: ValidationException) -> str:
    """Litestar's per-field details as one sentence: ``field: problem; field: problem``."""
    parts = []
    for detail in error.extra if isinstance(error.extra, list) else []:
        if isinstance(detail, dict):
            key = detail.get("key")
            prefix = f"{key}: " if key and key != "data" else ""
            parts.append(f"{prefix}{detail.get('message', '')}")
    return f"The request is not valid: {'; '.join(parts) or error.detail}."


# The order methods are listed in an ``Allow`` header (RFC 9110 puts none; this one reads naturally).
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(allow: str) -> list[str]:
    """Litestar's ``Allow`` value as HTTP methods, in a fixed order, each once.

    Litestar lists a WebSocket route as ``websocket``; on the wire its handshake is a ``GET``.
    """
    methods = {part.strip().upper() for part in allow.split(",") if part.strip()}
    if "WEBSOCKET" in methods:
        methods.discard("WEBSOCKET")
        methods.add("GET")
    ordered = [method for method in _METHOD_ORDER if method in methods]
    return ordered + sorted(methods.difference(_METHOD_ORDER))


def _method_not_allowed(request: Request[Any, Any, Any], error: HTTPException) -> Response[bytes]:
    """405 with an ``Allow`` header naming every method the path answers; 426 for a plain GET of a WebSocket path."""
    headers = {name: value for name, value in (error.headers or {}).items() if name.lower() != "allow"}
    litestar_allow = next((value for name, value in (error.headers or {}).items() if name.lower() == "allow"), "")
    methods = allowed_methods(litestar_allow)
    if methods == ["GET"] and "websocket" in litestar_allow.lower() and request.method == "GET":
        headers.update({"Upgrade": "websocket", "Connection": "Upgrade"})
        message = "This path is a WebSocket: open it with a WebSocket client (Upgrade: websocket)."
        return error_response(426, "upgrade_required", message, headers=headers)
    headers["Allow"] = ", ".join(methods)
    message = f"{request.method} is not allowed here; this path answers {', '.join(methods)}."
    return error_response(405, "method_not_allowed", message, headers=headers)


def _http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[bytes]:
    if isinstance(error, ValidationException):
        return error_response(400, "validation_error", _validation_message(error))
    status = error.status_code
    if status == 405:
        return _method_not_allowed(request, error)
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    message = error.detail if status < 500 else _INTERNAL
    if status == 413:
        message = "The request body is too large."
    return error_response(status, code, message, headers=error.headers)


def _unexpected(_: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    status, body = error_answer(error)
    return Response(body, status_code=status, media_type=MediaType.JSON)


def exception_handlers() -> ExceptionHandlersMap:
    """Handlers for create_app: every error becomes the one error body."""
    return {AppError: _app_error, HTTPException: _http_error, Exception: _unexpected}
