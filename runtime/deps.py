"""The one dependency that route handlers receive: the app's services, built by ``create_app``.

One object rather than one dependency per service: Litestar resolves two or more dependencies of a
handler concurrently in an anyio task group, which cost a heartbeat more than its own work.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.catalog.services import HubCache, ManifestCache  # noqa: TC001 - read at run time by Litestar
from runtime.db.feed import ChangeFeed  # noqa: TC001 - as above
from runtime.db.leader import Leadership  # noqa: TC001 - as above
from runtime.events.stream import EventStream  # noqa: TC001 - as above
from runtime.health.metrics import Metrics  # noqa: TC001 - as above
from runtime.hf.services import HfStatsService  # noqa: TC001 - as above
from runtime.lifecycle.service import LifecycleService  # noqa: TC001 - as above


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a handler may call."""

    lifecycle: LifecycleService
    hub: HubCache
    manifests: ManifestCache
    metrics: Metrics
    hf: HfStatsService
    events: EventStream
    leadership: Leadership
    """Whether this replica runs the cluster-wide duties."""
    feed: ChangeFeed | None
    """The other replicas' updates (PostgreSQL); None for one process on SQLite."""
