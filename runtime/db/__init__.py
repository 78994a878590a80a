"""Persistence: the records the runtime stores and the store that keeps them."""

from __future__ import annotations

from runtime.db.records import (
    AlreadyStored,
    Metrics,
    NodeModelRecord,
    NodeRecord,
    RegistrationRecord,
    Store,
    StoredState,
)

__all__ = [
    "AlreadyStored",
    "Metrics",
    "NodeModelRecord",
    "NodeRecord",
    "RegistrationRecord",
    "Store",
    "StoredState",
]
