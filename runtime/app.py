"""The composition root: ``create_app(settings)`` wires every part of the runtime into one Litestar app.

Nothing is read from the environment, opened or started at import time: the store opens, the state
loads and the timers start in the app's lifespan, and stop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import TYPE_CHECKING

import msgspec
from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from generated.catalog import CATALOG
from runtime.auth import Tokens, auth_middleware
from runtime.catalog.controllers import ModelsController, OpenAIController
from runtime.catalog.services import HubCache, ManifestCache
from runtime.dashboard import api_docs, dashboard_router
from runtime.db.feed import ChangeFeed
from runtime.db.leader import Leadership
from runtime.db.sql import SqlStore, is_postgres
from runtime.deps import Services
from runtime.errors import DatabaseUnavailable, exception_handlers
from runtime.events.backends import CHANNEL, backend_for
from runtime.events.controllers import events_socket, models_socket
from runtime.events.publisher import EventPublisher
from runtime.events.snapshots import Snapshots
from runtime.events.stream import EventStream
from runtime.health.controllers import HealthController
from runtime.health.metrics import Metrics
from runtime.hf.services import HfStatsService
from runtime.lifecycle.controllers import NodesController
from runtime.lifecycle.heartbeat_lane import heartbeat_lane
from runtime.lifecycle.replication import HeldEvents, StateUpdate, decode, encode
from runtime.lifecycle.service import LifecycleService
from runtime.openapi_docs import COMPONENTS as OPENAPI_COMPONENTS
from runtime.openapi_docs import StrictStructSchemaPlugin
from runtime.origins import Origins, parse_origins
from runtime.path_guard import path_guard
from runtime.periodic import RoleTasks, run_periodically
from runtime.session import SessionController
from runtime.settings import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from generated.types import SupportedModel
    from runtime.db import Store
    from runtime.hf.cache import Key

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    catalog: Sequence[SupportedModel] = CATALOG,
) -> Litestar:
    """Build the app; ``settings`` default to the environment, ``store`` to SQL at ``database_url``.

    ``catalog`` is the catalog this server serves (the generated one; tests and catalog releases
    may pass another).
    """
    settings = settings or Settings()
    store = store or SqlStore(settings.database_url)
    # Replicas share PostgreSQL (runtime/lifecycle/replication.py); SQLite is one process.
    replicated = is_postgres(settings.database_url)
    replica = settings.replica_id if replicated else None
    lifecycle = LifecycleService(
        store,
        offline_after=settings.node_offline_after,
        stall_after=settings.download_stall_after,
        auto_approve=settings.auto_approve_nodes,
        catalog={model.id: model for model in catalog},
        replica=replica,
        progress_announce_interval=settings.ws_node_progress_interval,
    )
    hf_saved = None if replica is None else encode(StateUpdate(origin=replica, hf_stats=True))
    hf = HfStatsService(settings, store, catalog, save_note=hf_saved)
    leadership = Leadership(settings.database_url)
    hub = HubCache(lifecycle, hf)
    manifests = ManifestCache(lifecycle, settings.hf_endpoint)
    metrics = Metrics(lifecycle, hf)
    tokens = Tokens(settings)
    backend = backend_for(settings.redis_url)
    channels = ChannelsPlugin(backend=backend, channels=[CHANNEL])
    events = EventStream(
        channels,
        Snapshots(lifecycle, hub),
        replay_size=settings.ws_replay_size,
        max_topics=settings.ws_max_topics,
        backend=backend,
    )

    def publish(data: bytes) -> None:
        channels.publish(data, CHANNEL)

    held = (
        HeldEvents(publish, lifecycle.unannounced) if replicated else None
    )  # replicas: an event leaves after the state it shows
    publisher = EventPublisher(
        lifecycle,
        held.publish if held is not None else publish,
        progress_interval=settings.ws_progress_interval,
        node_progress_interval=settings.ws_node_progress_interval,
    )

    async def replicated_update(payload: str) -> None:
        try:
            update = decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            logger.warning("replication: ignored an update this release cannot read (%s)", error)
            return
        await lifecycle.apply(update)
        if update.hf_stats and update.origin != replica:
            await hf.load()

    feed = ChangeFeed(settings.database_url, receive=replicated_update, resync=lifecycle.resync) if replicated else None

    def hf_changed(keys: set[Key]) -> None:
        now = lifecycle.clock()
        for model_id in hub.models_of(keys):
            publisher.on_hf_info(model_id, hub.hf_info(model_id), now)

    # Who listens to whom. The caches are told before the publisher, so an event never goes out
    # ahead of the hub bytes and snapshots that show it.
    lifecycle.listeners += [hub.on_change, manifests.on_change]  # publisher.attach() adds itself once listening
    hf.listeners += [hub.on_hf, hf_changed]
    backend.on_gap(events.gap)

    async def heartbeat() -> None:
        events.heartbeat()

    # Cluster-wide duties run on the leader only (runtime/db/leader.py); SQLite's one process always leads.
    hf_interval = max(1.0, min(60.0, settings.hf_cache_ttl / 4))
    duties = RoleTasks(
        leader=lambda: [
            hf.run(hf_interval),
            run_periodically(min(1.0, settings.node_offline_after / 4), lifecycle.expire),
        ],
        follower=lambda: [hf.follow(hf_interval)],
    )
    leadership.listeners.append(duties.switch)

    announce_failing = False

    async def announce() -> None:
        nonlocal announce_failing
        try:  # a database that hangs must not hold the events back for long
            await asyncio.wait_for(lifecycle.announce(), timeout=max(1.0, settings.replica_sync_interval * 10))
        except (DatabaseUnavailable, TimeoutError) as error:  # the changes wait; say so once per outage
            if not announce_failing:
                logger.warning("replication: cannot tell the other replicas (%s); retrying", error)
            announce_failing = True
        else:
            if announce_failing:
                logger.info("replication: telling the other replicas again")
            announce_failing = False
        finally:
            if held is not None:
                held.release()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await store.open()
        try:
            await lifecycle.start()
            await hf.load()
            async with channels:  # entered here, not as a plugin, so it starts after the store and stops before it
                stream = asyncio.create_task(events.run())
                await events.listening.wait()
                publisher.attach()
                duties.switch(False)
                tasks = [
                    stream,
                    leadership.start(),
                    asyncio.create_task(run_periodically(settings.heartbeat_flush_interval, lifecycle.flush)),
                    asyncio.create_task(run_periodically(settings.ws_heartbeat_interval, heartbeat)),
                ]
                if feed is not None:
                    tasks += [
                        asyncio.create_task(feed.run()),
                        asyncio.create_task(run_periodically(settings.replica_sync_interval, announce)),
                    ]
                try:
                    yield
                finally:
                    publisher.close()
                    await duties.stop()
                    await leadership.close()
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                    if held is not None:  # what the other replicas have not heard yet, then its events
                        with contextlib.suppress(Exception):
                            await lifecycle.announce()
                        held.release()
                    await lifecycle.flush(everything=True)
                    await hf.flush()
        finally:
            await hf.close()
            await store.close()

    metrics.watch(events)
    services = Services(lifecycle, hub, manifests, metrics, hf, events, leadership, feed)

    def provide(value: object) -> Provide:
        return Provide(lambda: value, sync_to_thread=False)

    app = Litestar(
        route_handlers=[
            ModelsController,
            OpenAIController,
            NodesController,
            SessionController,
            HealthController,
            events_socket,
            models_socket,
            dashboard_router(settings.ui_dir),
        ],
        dependencies={"services": provide(services)},
        lifespan=[lifespan],
        middleware=[
            metrics.middleware,
            path_guard,
            auth_middleware(tokens, Origins(parse_origins(settings.allowed_origins))),
        ],
        exception_handlers=exception_handlers(),
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,  # the process configures logging (modelhub serve); an app never rewires the root logger
        openapi_config=OpenAPIConfig(
            title="Model Hub",
            version=version("modelhub"),
            path="/schema",
            render_plugins=[api_docs()],
            components=OPENAPI_COMPONENTS,
            create_examples=False,  # Litestar's are random, and break the schemas' own rules
        ),
        plugins=[StrictStructSchemaPlugin()],
        # Bodies over 1 KiB go out gzipped when the client accepts it (the hub: 18 KB -> ~3 KB); level 6,
        # not Litestar's 9, which costs twice the CPU for a few percent. Routes with opt uncompressed=True
        # (the heartbeat: every node every 2 s, a 3 KB answer on the cluster's own network) are not.
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, gzip_compress_level=6, exclude_opt_key="uncompressed"
        ),
    )
    app.state.settings = settings
    app.state.services = services  # for the hot path and the WebSocket, which skip dependency injection
    app.state.tokens = tokens
    # Heartbeats are answered ahead of Litestar's router (runtime/lifecycle/heartbeat_lane.py), counted
    # like every request; ``asgi_handler`` is what Litestar.__call__ hands every HTTP request to.
    app.asgi_handler = heartbeat_lane(
        app.asgi_handler,
        services=services,
        tokens=tokens,
        max_body_bytes=settings.max_body_bytes,
        measure=metrics.middleware,
    )
    return app
