"""The events domain: the lifecycle's changes as WebSocket events, on Litestar's channels (GET /ws)."""

from __future__ import annotations
