"""The catalog domain: the hub, registration, manifests and the OpenAI-compatible list."""

from __future__ import annotations
