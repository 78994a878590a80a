"""Persistence: the records the runtime stores and the store that keeps them."""

from __future__ import annotations

from runtime.db.records import (
    AlreadyStored,
    HfStatsRecord,
    Metrics,
    NodeModelRecord,
    NodeRecord,
    RegistrationRecord,
    Store,
    StoredState,
)

__all__ = [
    "AlreadyStored",
    "HfStatsRecord",
    "Metrics",
    "NodeModelRecord",
    "NodeRecord",
    "RegistrationRecord",
    "Store",
    "StoredState",
]
