"""The operator CLI's HTTP side: one request, its failure turned into a one-line message and an exit code."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from generated.types import ErrorBody
from runtime.agent.wire import LenientDecoder

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130

_ERRORS = LenientDecoder(ErrorBody)


class CliError(Exception):
    """A failure to report on one line, with the exit status it means."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # one line, whatever the server sent
        self.status = status


def server_message(response: httpx.Response) -> str:
    """The server's error message (``{"error": {"code", "message"}}``), or the HTTP status when there is none."""
    try:
        body = _ERRORS.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError, TypeError):
        text = response.text.strip()
        return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")
    return f"{body.error.message} ({body.error.code})"


def check(response: httpx.Response) -> httpx.Response:
    """``response`` when it succeeded; else a ``CliError``: 401/403 exit 4, anything else 1."""
    if response.is_success:
        return response
    status = EXIT_REFUSED if response.status_code in (401, 403) else EXIT_FAILED
    raise CliError(server_message(response), status)


class Api:
    """The server's HTTP API with a token; every call raises ``CliError`` on failure."""

    def __init__(self, server: str, token: str | None, *, timeout: float = 10.0) -> None:
        """A client for ``server`` (``http://host:port``), sending ``token`` when there is one."""
        self.server = server.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """One request; ``CliError`` with exit 3 when the server cannot be reached."""
        try:
            response = self._client.request(method, path, json=json)
        except httpx.TransportError as error:
            raise CliError(
                f"cannot reach the server at {self.server}: {unreachable_reason(error)}", EXIT_UNREACHABLE
            ) from None
        except httpx.InvalidURL as error:
            raise CliError(f"not a server URL: {self.server!r}: {error}", EXIT_USAGE) from None
        return check(response)


def unreachable_reason(error: BaseException) -> str:
    """Why a connection failed, in a few words."""
    text = str(error).strip()
    return text or type(error).__name__
