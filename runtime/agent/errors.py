"""Every error the node agent raises on purpose, and what the agent does about each.

Hierarchy::

    AgentError                     base
    ├── ConfigError                bad arguments or settings: the command prints one line, exits 2
    ├── CacheError                 the cache directory cannot be used (not ours, a file name escapes it)
    ├── ServerError                talking to the Model Hub server
    │   ├── ServerUnavailable      no answer, a timeout, a 5xx or an unreadable body: back off, try again
    │   └── ServerRejected         a 4xx with the error body ``{"error": {code, message, pointer?}}``
    │       ├── Unauthorized       401: the token is wrong (fatal)
    │       ├── Forbidden          403 on registration: not a node token (fatal)
    │       ├── NodePending        403 on a heartbeat: the node waits for approval; keep trying
    │       ├── NodeNotFound       404 node_not_found: the server forgot the node; register again
    │       ├── ModelRejected      404 not_registered / model_not_supported: refresh the desired set
    │       └── InvalidTransition  409: a report does not follow the server's state; resynchronise it
    └── DownloadError              one file could not be fetched; the model is reported failed and retried
        ├── FileUnavailable        the file server answered an error status (401 gated, 404, 5xx, ...)
        ├── Interrupted            the transfer broke off; the ``.part`` file is kept for resuming
        │   └── TooSlow            no byte for the read timeout, or below the minimum rate over its window
        ├── SizeMismatch           the size differs from the manifest's; the file is deleted
        └── ChecksumMismatch       the sha256 differs from the manifest's; the file is deleted

Messages never contain a token.
"""

from __future__ import annotations

import re

_REPORT_POINTER = re.compile(r"/models/(\d+)(?:/.*)?")
"""The pointer of a heartbeat report: ``/models/<index>`` or ``/models/<index>/<field>``."""
_REPORT_MESSAGE = re.compile(r"^models\[(\d+)\]")
"""How a server of the previous release, which sends no pointer, names the report: ``models[3]: ...``."""


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """An argument or setting is not usable; the message names it."""


class CacheError(AgentError):
    """The cache directory cannot be used as asked."""


class ServerError(AgentError):
    """A call to the Model Hub server failed."""


class ServerUnavailable(ServerError):
    """The server did not answer usefully (connection error, timeout, 5xx, unreadable body)."""


class ServerRejected(ServerError):
    """The server answered a 4xx with its error body.

    Attributes:
        status: The HTTP status.
        code: The error code (``not_registered``, ``invalid_transition``, ...).
        message: The server's sentence.
        pointer: The JSON pointer of the part of the request body at fault, when the server names one.
    """

    def __init__(self, status: int, code: str, message: str, pointer: str | None = None) -> None:
        self.status, self.code, self.message, self.pointer = status, code, message, pointer
        super().__init__(f"{status} {code}: {message}")

    @property
    def report_index(self) -> int | None:
        """The index of the heartbeat report the server objects to, from the error's pointer.

        Without a pointer (a server of the previous release), the message's ``models[<index>]`` prefix.
        """
        if self.pointer is not None:
            match = _REPORT_POINTER.fullmatch(self.pointer)
        else:
            match = _REPORT_MESSAGE.match(self.message)
        return int(match.group(1)) if match else None


class Unauthorized(ServerRejected):
    """401: the server does not know the token."""


class Forbidden(ServerRejected):
    """403: the token is not a node token."""


class NodePending(ServerRejected):
    """403 on a heartbeat: the node is waiting for an administrator's approval."""


class NodeNotFound(ServerRejected):
    """404 node_not_found: the server has no node with this runtime id."""


class ModelRejected(ServerRejected):
    """404 not_registered or model_not_supported: a report names a model the server no longer wants."""


class InvalidTransition(ServerRejected):
    """409 invalid_transition: a report does not follow from what the server holds."""


class DownloadError(AgentError):
    """A file could not be fetched; ``reason`` is the sentence reported to the server."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class FileUnavailable(DownloadError):
    """The file server answered an error status."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        super().__init__(reason)


class Interrupted(DownloadError):
    """The transfer broke off; what arrived is kept in the ``.part`` file."""


class TooSlow(Interrupted):
    """The file server sent nothing for the read timeout, or too little over a window; the part is kept."""


class SizeMismatch(DownloadError):
    """The file's size is not the manifest's; the partial file was deleted."""


class ChecksumMismatch(DownloadError):
    """The file's sha256 is not the manifest's; the file was deleted."""
