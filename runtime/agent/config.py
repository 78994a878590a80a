"""The node agent's settings: one frozen ``NodeConfig``, checked when it is made."""

from __future__ import annotations

import re
import secrets
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from runtime.agent.download import CHUNK_SIZE
from runtime.agent.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

_RUNTIME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._:-]+")


def is_runtime_id(value: str) -> bool:
    """Whether ``value`` is a valid runtime id (the wire's ``RuntimeId``)."""
    return len(value) <= 128 and _RUNTIME_ID.fullmatch(value) is not None


def hostname_runtime_id(hostname: str | None = None) -> str:
    """A new runtime id: the host name made valid, plus 8 random hex digits (two caches on a host differ)."""
    base = _NOT_ALLOWED.sub("-", hostname or socket.gethostname()).strip("-._:")[:100] or "node"
    return f"{base}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything ``run_node`` needs.

    Attributes:
        server: The server's base URL (``http://`` or ``https://``).
        token: The node token; never shown in a repr or a log.
        cache_dir: Where models are stored (created; must be empty or an earlier cache).
        runtime_id: The node's id; None uses the one kept in ``{cache_dir}/runtime_id`` (made from the host
            name the first time).
        machine_name: The name people see; the host name by default.
        heartbeat_interval: Seconds between heartbeats.
        concurrency: Files downloaded at the same time.
        hf_token: Sent as ``Authorization: Bearer`` to the Hub's file URLs (gated repositories); never logged.
        chunk_size: Bytes read before each write to disk.
        request_timeout: Seconds per server request, and without a byte from a file server.
    """

    server: str
    token: str = field(repr=False)
    cache_dir: Path
    runtime_id: str | None = None
    machine_name: str = field(default_factory=socket.gethostname)
    heartbeat_interval: float = 2.0
    concurrency: int = 2
    hf_token: str | None = field(default=None, repr=False)
    chunk_size: int = CHUNK_SIZE
    request_timeout: float = 30.0

    def __post_init__(self) -> None:
        """Check every field; the first problem raises ``ConfigError`` naming it."""
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"--server must be an http:// or https:// URL, not {self.server!r}")
        if not self.token:
            raise ConfigError("the node token is empty (--token or MODELHUB_NODE_TOKEN)")
        if self.runtime_id is not None and not is_runtime_id(self.runtime_id):
            raise ConfigError(
                f"--runtime-id {self.runtime_id!r}: use letters, digits and . _ : - (at most 128, "
                "starting with a letter or digit)"
            )
        if not 1 <= len(self.machine_name) <= 255:
            raise ConfigError("the machine name must have 1 to 255 characters")
        if not self.heartbeat_interval > 0:
            raise ConfigError(f"--heartbeat-interval must be above 0 seconds, not {self.heartbeat_interval}")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, not {self.concurrency}")
        if self.chunk_size < 64 * 1024:
            raise ConfigError(f"the chunk size must be at least 64 KiB, not {self.chunk_size}")
        if not self.request_timeout > 0:
            raise ConfigError(f"the request timeout must be above 0 seconds, not {self.request_timeout}")
