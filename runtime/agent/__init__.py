"""The node agent (``modelhub node``): registers, heartbeats, and keeps the cache equal to the desired set.

``run_node(NodeConfig(...))`` runs it; ``node_main`` is the command line. Inside: ``api`` (the server),
``sync`` (one task per model), ``download`` (one file, resumable and verified), ``cache`` (the directory),
``report`` (reports the server accepts), ``progress`` (the download lines of the log), ``throughput``
(how slow a file server may be), ``wire`` (answers decoded ignoring unknown fields), ``metrics``,
``backoff`` and ``errors``.
"""

from __future__ import annotations

from runtime.agent.agent import Agent, run_node
from runtime.agent.api import ServerClient
from runtime.agent.backoff import Backoff
from runtime.agent.cache import Cache, VerifiedFile
from runtime.agent.command import add_node_arguments, config_from_arguments, node_main, run_node_command
from runtime.agent.config import NodeConfig
from runtime.agent.download import Fetched, FileSpec, fetch_file
from runtime.agent.errors import (
    AgentError,
    CacheError,
    ChecksumMismatch,
    ConfigError,
    DownloadError,
    FileUnavailable,
    Forbidden,
    Interrupted,
    InvalidTransition,
    ModelRejected,
    NodeNotFound,
    NodePending,
    ServerError,
    ServerRejected,
    ServerUnavailable,
    SizeMismatch,
    TooSlow,
    Unauthorized,
)
from runtime.agent.metrics import MetricsSampler
from runtime.agent.report import Reporter
from runtime.agent.sync import Syncer
from runtime.agent.throughput import SpeedLimits, ThroughputGuard
from runtime.agent.wire import LenientDecoder

__all__ = [
    "Agent",
    "AgentError",
    "Backoff",
    "Cache",
    "CacheError",
    "ChecksumMismatch",
    "ConfigError",
    "DownloadError",
    "Fetched",
    "FileSpec",
    "FileUnavailable",
    "Forbidden",
    "Interrupted",
    "InvalidTransition",
    "LenientDecoder",
    "MetricsSampler",
    "ModelRejected",
    "NodeConfig",
    "NodeNotFound",
    "NodePending",
    "Reporter",
    "ServerClient",
    "ServerError",
    "ServerRejected",
    "ServerUnavailable",
    "SizeMismatch",
    "SpeedLimits",
    "Syncer",
    "ThroughputGuard",
    "TooSlow",
    "Unauthorized",
    "VerifiedFile",
    "add_node_arguments",
    "config_from_arguments",
    "fetch_file",
    "node_main",
    "run_node",
    "run_node_command",
]
