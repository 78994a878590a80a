"""The node agent's settings: one frozen ``NodeConfig``, checked when it is made."""

from __future__ import annotations

import math
import re
import secrets
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from runtime.agent.download import CHUNK_SIZE
from runtime.agent.errors import ConfigError
from runtime.agent.throughput import MIN_RATE, RATE_WINDOW, READ_TIMEOUT, SpeedLimits

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
        request_timeout: Seconds per server request (and to connect to or write to a file server).
        read_timeout: Seconds without a byte from a file server before the transfer is given up (default
            60: a CDN or proxy may pause while it fetches from its origin, TCP may stall on lost packets;
            a dead connection is still retried within a minute).
        min_download_rate: Bytes per second, averaged over ``rate_window``, below which a transfer is
            given up (default 10 KiB/s: far below any working link, a 1 Mbit/s line brings 122 KiB/s,
            so only a stuck or dripping server trips it; at 10 KiB/s a 500 MB file would take 14 hours).
        rate_window: Seconds over which the download rate is averaged (default 60: brief stalls and
            bursts even out). A transfer given up for either bound makes the model ``failed`` with the
            reason, and it is retried after the usual backoff, resuming its partial files.
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
    read_timeout: float = READ_TIMEOUT
    min_download_rate: float = MIN_RATE
    rate_window: float = RATE_WINDOW

    @property
    def speed_limits(self) -> SpeedLimits:
        """The least a file server must send."""
        return SpeedLimits(self.read_timeout, self.min_download_rate, self.rate_window)

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
        for option, value, unit in (
            ("--read-timeout", self.read_timeout, "seconds"),
            ("--min-download-rate", self.min_download_rate, "bytes per second"),
            ("--rate-window", self.rate_window, "seconds"),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{option} must be a finite number above 0 {unit}, not {value}")
