"""Liveness, readiness and Prometheus metrics; no auth, as load balancers and scrapers expect."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.deps import Services
from runtime.openapi_docs import get_with_head, spec

#: Litestar adds the charset of a text/* type itself.
_PROMETHEUS = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class HealthController(Controller):
    """``/healthz``, ``/readyz`` and ``/metrics``."""

    path = "/"
    tags = ["health"]  # noqa: RUF012 - Litestar's own attribute

    @get_with_head("/healthz", operation_id="healthz", media_type=MediaType.JSON)
    async def healthz(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get_with_head(
        "/readyz",
        operation_id="readyz",
        responses={
            200: spec(dict[str, Any], "Ready: status, checks (each `ok`) and details"),
            503: spec(dict[str, Any], "Not ready: the checks say which dependency failed"),
        },
    )
    async def readyz(self, request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Response[bytes]:
        """Ready when the database answers and events flow (Redis, when set); 503 otherwise, with the reason."""
        checks: dict[str, str] = {}
        try:
            await services.lifecycle.store.ping()
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unreachable: {type(error).__name__}"
        backend = services.events.backend
        if backend is not None:
            checks["events"] = "ok" if backend.healthy else "unreachable: the events backend (Redis) failed"
        if getattr(request.app.state, "draining", False):
            checks["shutdown"] = "draining: this replica is stopping (MODELHUB_SHUTDOWN_DRAIN)"
        feed = services.feed
        if feed is not None:
            checks["replication"] = (
                "ok"
                if feed.healthy
                else "not listening: other replicas' changes are not seen (reads served from memory)"
            )
        ready = all(value == "ok" for value in checks.values())
        details: dict[str, object] = {
            "replica": request.app.state.settings.replica_id,
            "leader": services.leadership.is_leader,
            "leadership": services.leadership.details(),
            "orphaned_registrations": services.lifecycle.orphaned_ids(),
            "huggingface": services.hf.health(),  # informative: the hub serves stale stats when HF fails
        }
        if feed is not None:
            details["replication"] = {"listening": feed.healthy, "updates_received": feed.received}
        body = msgspec.json.encode({"status": "ready" if ready else "not_ready", "checks": checks, "details": details})
        return Response(body, status_code=200 if ready else 503, media_type=MediaType.JSON)

    @get_with_head("/metrics", operation_id="metrics", media_type=_PROMETHEUS)
    async def metrics(self, request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Response[bytes]:
        """Prometheus text format; every sample labelled ``replica`` with this process's ``MODELHUB_REPLICA_ID``."""
        body = services.metrics.exposition(request.app.state.settings.replica_id)
        return Response(body, media_type=_PROMETHEUS)
