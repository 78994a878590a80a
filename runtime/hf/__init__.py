"""Hugging Face stats: a tolerant parser, an HTTP client, a cache that never blocks the hub, and the service."""

from __future__ import annotations
