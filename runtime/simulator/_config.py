"""The simulator's settings and its one exception."""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from generated.types import NodeRegistration

#: Bytes per second each simulated node fetches each model at, by default (a fast datacentre link).
DEFAULT_SPEED = 200_000_000
#: Bytes counted for a manifest file without ``size_bytes`` that the catalog does not size either (an artifact).
DEFAULT_UNKNOWN_SIZE = 100 * 2**20
#: Heartbeats per second one pooled connection is sized for by default (about 15 ms per round trip).
REQUESTS_PER_CONNECTION = 64
#: uvicorn closes idle connections after 5 s: the pool lets go of them a little earlier, so a request
#: never goes out on a connection the server is closing.
KEEPALIVE_EXPIRY = 4.0


class SimulatorError(Exception):
    """Base of the simulator's errors: bad settings, or a server that refuses or cannot be reached.

    The message is one sentence a person can act on; the CLI prints it as it is.
    """


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How many virtual nodes to run, against which server, and how they behave.

    Invalid values raise ``SimulatorError`` on construction.
    """

    server: str
    """Base URL of the Model Hub server, e.g. ``http://127.0.0.1:8000``."""
    token: str
    """The node token (``MODELHUB_NODE_TOKEN`` of the server)."""
    nodes: int
    """Number of simulated nodes."""
    heartbeat_interval: float = 2.0
    """Seconds between two heartbeats of one node; the nodes' phases are spread over it."""
    speed_bytes_per_s: float = DEFAULT_SPEED
    """Download speed of each node for each model (models download in parallel)."""
    failure_rate: float = 0.0
    """Probability, per heartbeat and download in flight, that it fails: ``failed`` is reported, then it restarts."""
    flap_rate: float = 0.0
    """Probability, per heartbeat, that a node goes silent for ``flap_seconds`` (nothing advances meanwhile)."""
    flap_seconds: float = 35.0
    """How long a flapping node stays silent; above the server's ``MODELHUB_NODE_OFFLINE_AFTER`` (30 s by default)."""
    seed: int | None = None
    """Seed of every random choice (phases, failures, flaps, metrics); None picks one (``Simulator.seed``)."""
    runtime_id_prefix: str = "sim"
    """Node ``i`` is ``{prefix}-{i:04d}``: a rerun with the same prefix continues the same nodes."""
    gpu: bool = False
    """Whether the nodes have a GPU: registration and metrics carry GPU fields only then."""
    concurrency: int | None = None
    """Most HTTP requests in flight at once, and keep-alive connections in the pool; None: ``connections``'s rule."""
    timeout: float = 10.0
    """Seconds per HTTP request."""
    unknown_size_bytes: int = DEFAULT_UNKNOWN_SIZE
    """Bytes counted for a manifest file whose size neither the manifest nor the catalog gives (``manifest_size``)."""
    stats_interval: float = 5.0
    """Seconds between two calls of ``on_stats``."""
    connect_timeout: float = 10.0
    """Seconds to keep trying to reach the server at start-up before giving up."""

    def __post_init__(self) -> None:
        problems = [
            problem
            for problem in (
                _positive("nodes", self.nodes, integer=True),
                _positive("heartbeat_interval", self.heartbeat_interval),
                _positive("speed_bytes_per_s", self.speed_bytes_per_s),
                _probability("failure_rate", self.failure_rate),
                _probability("flap_rate", self.flap_rate),
                _positive("flap_seconds", self.flap_seconds),
                None if self.concurrency is None else _positive("concurrency", self.concurrency, integer=True),
                _positive("timeout", self.timeout),
                _positive("stats_interval", self.stats_interval),
                _positive("connect_timeout", self.connect_timeout),
                None if self.unknown_size_bytes >= 0 else "unknown_size_bytes must not be negative",
                None if self.server.startswith(("http://", "https://")) else "server must be an http(s) URL",
                None if self.token else "token must not be empty",
            )
            if problem is not None
        ]
        try:  # the generated type owns the runtime id rules
            msgspec.convert({"runtime_id": f"{self.runtime_id_prefix}-0000", "machine_name": "x"}, NodeRegistration)
        except msgspec.ValidationError:
            problems.append(f"runtime_id_prefix {self.runtime_id_prefix!r} does not make a valid runtime id")
        if problems:
            raise SimulatorError("; ".join(problems) + ".")

    @property
    def connections(self) -> int:
        """``concurrency``, or by default one connection per ``REQUESTS_PER_CONNECTION`` heartbeats/s (2..64).

        Few connections are cheaper: httpcore checks every idle connection of the pool on each request,
        so the simulator's CPU per request grows with the pool.
        """
        if self.concurrency is not None:
            return self.concurrency
        rate = self.nodes / self.heartbeat_interval
        return min(64, max(2, math.ceil(rate / REQUESTS_PER_CONNECTION)))


def _positive(name: str, value: float, *, integer: bool = False) -> str | None:
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{name} must be a whole number"
    if not (math.isfinite(value) and value > 0):
        return f"{name} must be greater than 0 (got {value})"
    return None


def _probability(name: str, value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"{name} must be between 0 and 1 (got {value})"
