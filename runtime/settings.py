"""Every setting of the runtime, read once from the environment into one frozen object.

Names are part of the external contract (README, Settings): ``MODELHUB_*`` for ours, the Hugging Face names for theirs.
Tests build ``Settings(...)`` directly and pass it to ``create_app``; nothing reads the environment
at import time.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from collections.abc import Mapping


#: The values huggingface_hub reads as true in its boolean variables (``constants._is_true``), compared upper-cased.
HF_TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})
#: The false values a person would write; any other value is false too, but ``serve`` warns about it.
HF_FALSE_VALUES = frozenset({"0", "OFF", "NO", "FALSE"})
#: Where ``HF_HUB_OFFLINE`` may come from, in the order pydantic-settings looks (the first non-empty one wins).
HF_HUB_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "MODELHUB_HF_HUB_OFFLINE")


def hf_hub_offline_value(text: str) -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it: 1, ON, YES or TRUE in any case is true; anything else false."""
    return text.upper() in HF_TRUE_VALUES


def hf_hub_offline_warning(environ: Mapping[str, str]) -> str | None:
    """A one-line warning when the offline variable in use holds neither a true nor a usual false value."""
    for name in HF_HUB_OFFLINE_VARIABLES:
        value = environ.get(name, "")
        if value:  # empty counts as unset: the next name is read
            if value.upper() in HF_TRUE_VALUES | HF_FALSE_VALUES:
                return None
            return (
                f"modelhub: warning: {name}={value!r} is not 1/ON/YES/TRUE, so Hugging Face stays online"
                " (as huggingface_hub reads it); write 0 or 1 to say which you mean"
            )
    return None


class Settings(BaseSettings):
    """Runtime settings; each field is one environment variable."""

    # env_ignore_empty: an empty variable (as docker-compose writes `HF_HUB_OFFLINE=`) counts as unset
    model_config = SettingsConfigDict(
        env_prefix="MODELHUB_", frozen=True, extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # Storage and events
    database_url: str = "sqlite+aiosqlite:///./data/modelhub.db"
    """MODELHUB_DATABASE_URL: any SQLAlchemy async URL; PostgreSQL (postgresql+asyncpg://…) for scale-out."""
    redis_url: str | None = None
    """MODELHUB_REDIS_URL: when set, events go through Redis so replicas share them."""
    shutdown_drain: NonNegativeFloat = 0.0
    """MODELHUB_SHUTDOWN_DRAIN: seconds /readyz answers 503 after the first SIGTERM/SIGINT before the server stops."""
    replica_sync_interval: PositiveFloat = 0.05
    """MODELHUB_REPLICA_SYNC_INTERVAL: seconds between two batches of heartbeat changes told to the other replicas."""

    # Events (WebSocket)
    ws_queue_size: PositiveInt = 256
    """MODELHUB_WS_QUEUE_SIZE: frames queued per WebSocket client; one further behind is resynchronised."""
    replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    """MODELHUB_REPLICA_ID: names this process in /readyz (``details.replica``) when several share a database."""
    allowed_origins: str = ""
    """MODELHUB_ALLOWED_ORIGINS: comma-separated origins besides the server's own whose pages may open the WebSocket."""
    ws_max_topics: PositiveInt = 1024
    """MODELHUB_WS_MAX_TOPICS: topics one WebSocket connection may hold; a subscribe beyond gets too_many_topics."""
    ws_replay_size: PositiveInt = 4096
    """MODELHUB_WS_REPLAY_SIZE: events kept for clients that resume with ``since``."""
    ws_heartbeat_interval: PositiveFloat = 15.0
    """MODELHUB_WS_HEARTBEAT_INTERVAL: seconds between Heartbeat frames."""
    ws_progress_interval: PositiveFloat = 0.25
    """MODELHUB_WS_PROGRESS_INTERVAL: at most one progress-only event per model in this many seconds."""
    ws_node_progress_interval: PositiveFloat = 1.0
    """MODELHUB_WS_NODE_PROGRESS_INTERVAL: the same per (model, node) row and per node's metrics."""

    # Auth
    admin_token: SecretStr | None = None
    """MODELHUB_ADMIN_TOKEN: register, delete, approve; also reads."""
    node_token: SecretStr | None = None
    """MODELHUB_NODE_TOKEN: node registration and heartbeats."""
    read_token: SecretStr | None = None
    """MODELHUB_READ_TOKEN: read-only access; unset means reads need the admin token."""

    # Nodes
    auto_approve_nodes: bool = False
    """MODELHUB_AUTO_APPROVE_NODES: new nodes skip pending and start as registering."""
    node_offline_after: PositiveFloat = 30.0
    """MODELHUB_NODE_OFFLINE_AFTER: seconds without a heartbeat before a node is offline."""
    download_stall_after: PositiveFloat = 60.0
    """MODELHUB_DOWNLOAD_STALL_AFTER: seconds without bytes_done growing before a download is stalled."""
    heartbeat_flush_interval: PositiveFloat = 1.0
    """MODELHUB_HEARTBEAT_FLUSH_INTERVAL: seconds between batched writes of heartbeat reports."""

    # Hugging Face
    hf_cache_ttl: PositiveFloat = 600.0
    """MODELHUB_HF_CACHE_TTL: seconds a Hugging Face stat stays fresh."""
    hf_cache_size: PositiveInt = 1024
    """MODELHUB_HF_CACHE_SIZE: repositories kept in the stats cache (LRU)."""
    hf_timeout: PositiveFloat = 5.0
    """MODELHUB_HF_TIMEOUT: seconds per Hugging Face request."""
    hf_endpoint: str = Field(default="https://huggingface.co", validation_alias="HF_ENDPOINT")
    """HF_ENDPOINT: base URL of the Hub API and of model files (a mirror, or the fake Hub)."""
    hf_token: SecretStr | None = Field(default=None, validation_alias="HF_TOKEN")
    """HF_TOKEN: sent as a bearer token to Hugging Face; never logged."""
    hf_hub_offline: bool = Field(default=False, validation_alias="HF_HUB_OFFLINE")
    """HF_HUB_OFFLINE: 1/ON/YES/TRUE (any case) means no call to Hugging Face at all; any other value, online."""

    @field_validator("hf_hub_offline", mode="before")
    @classmethod
    def _huggingface_hub_truth(cls, value: object) -> object:
        """Read a text value as huggingface_hub reads ``HF_HUB_OFFLINE``: true only for 1, ON, YES or TRUE."""
        return hf_hub_offline_value(value) if isinstance(value, str) else value

    @field_validator("admin_token", "node_token", "read_token", "hf_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty or blank token is no token: it must never match a request's empty bearer."""
        return None if isinstance(value, str) and not value.strip() else value

    # HTTP
    ui_dir: Path = Path(__file__).resolve().parent.parent / "ui" / "dist"
    """MODELHUB_UI_DIR: the built dashboard (``just build`` writes ui/dist), served at /."""
    max_body_bytes: PositiveInt = 1_048_576
    """MODELHUB_MAX_BODY_BYTES: larger request bodies are refused with 413."""
