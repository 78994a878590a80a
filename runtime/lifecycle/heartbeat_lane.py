"""The heartbeat's own lane: ``POST /v0/nodes/{runtime_id}/heartbeat`` answered ahead of Litestar's router.

Every node sends a heartbeat every few seconds, so this one route carries most of a cluster's
requests. Profiled under ``bench/runtime_http.py`` (py-spy), Litestar's request pipeline — routing,
the exception middleware, the handler's layers, the signature model, the response — was ~50 us of a
heartbeat's ~230 us, for a route that needs none of it: the lane took the bench from ~4,400 to
~5,800 heartbeats/s on one core. Litestar offers no lighter route kind that still goes through its
middleware and shows in the OpenAPI document, hence this wrapper around the app's ASGI handler.

The lane follows the same rules as every other route, with the same code: the node token
(``authorize``), the path guard (a path it refuses falls through to Litestar, which answers 404),
the body rules (``read_body``/``decode_json``: 413, 415, 400, 422), the one error body, and the
request metrics (``measure``: ``create_app`` passes ``Metrics.middleware``). The Litestar handler of
the same route (``NodesController.heartbeat``) stays: it documents the route, answers OPTIONS, and
serves the route for any app built without the lane; both call ``answer``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgspec
from litestar.enums import ScopeType

from generated.types import Heartbeat
from runtime.auth import NODE, authorize
from runtime.errors import error_answer
from runtime.json_body import decode_json, read_body, require_json
from runtime.path_guard import path_problem
from runtime.preencoded import PreEncoded

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.types import ASGIApp, Receive, Scope, Send

    from runtime.auth import Tokens
    from runtime.deps import Services

__all__ = ["TEMPLATE", "answer", "heartbeat_lane"]

#: The route as Litestar names it (the ``route`` label of the request metrics).
TEMPLATE = "/v0/nodes/{runtime_id}/heartbeat"
_PATH = re.compile(r"/v0/nodes/(?P<runtime_id>[^/]+)/heartbeat")
_DECODER = msgspec.json.Decoder(Heartbeat)


async def answer(services: Services, runtime_id: str, scope: Scope, receive: Receive, limit: int | None) -> bytes:
    """Read and take one heartbeat (JSON, at most ``limit`` bytes); answer its status and the manifests, encoded."""
    require_json(scope)
    body = await read_body(scope, receive, limit)
    status = await services.lifecycle.heartbeat(runtime_id, decode_json(body, _DECODER))
    manifests = services.manifests
    return (
        b'{"status":"'
        + status.value.encode()
        + b'","models":'
        + manifests.encoded
        + b',"retained":'
        + manifests.retained
        + b"}"
    )


def heartbeat_lane(
    app: ASGIApp,
    *,
    services: Services,
    tokens: Tokens,
    max_body_bytes: int,
    measure: Callable[[ASGIApp], ASGIApp],
) -> ASGIApp:
    """``app`` with heartbeats answered before it sees them (through ``measure``); all else goes to ``app``."""

    async def heartbeat(scope: Scope, receive: Receive, send: Send) -> None:
        runtime_id = scope["path_params"]["runtime_id"]
        try:
            authorize(tokens, scope, NODE)
            body = await answer(services, runtime_id, scope, receive, max_body_bytes)
            status = 200
        except Exception as error:  # answered as Litestar's exception handlers answer it
            status, body = error_answer(error)
        await PreEncoded(body, status=status)(scope, receive, send)

    measured = measure(heartbeat)

    async def lane(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope.get("method") == "POST":
            match = _PATH.fullmatch(scope["path"])
            if match is not None and path_problem(scope) is None:
                scope["path_template"] = TEMPLATE
                scope["path_params"] = {"runtime_id": match["runtime_id"]}
                await measured(scope, receive, send)
                return
        await app(scope, receive, send)

    return lane
