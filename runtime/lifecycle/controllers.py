"""HTTP routes of worker nodes: registration, approval, heartbeats, listing and removal."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import ASGIApp

from generated.types import ErrorBody, Heartbeat, HeartbeatResponse, Node, NodeDetail, NodeRegistration
from runtime.auth import ADMIN, NODE, READ
from runtime.deps import Services
from runtime.json_body import documented_body, read_json
from runtime.lifecycle.heartbeat_lane import answer
from runtime.openapi_docs import BODY_ERRORS, ERRORS, get_with_head, security_for, spec
from runtime.preencoded import PreEncoded

_REGISTRATION = msgspec.json.Decoder(NodeRegistration)


_ERRORS = {
    **ERRORS,
    403: spec(ErrorBody, "A token of the wrong kind, or a node still pending (forbidden)"),
    404: spec(ErrorBody, "node_not_found"),
}
_BODY_ERRORS = {**BODY_ERRORS, **_ERRORS}


class NodesController(Controller):
    """``/v0/nodes``."""

    path = "/v0/nodes"
    tags = ["nodes"]  # noqa: RUF012 - Litestar's own attribute

    @post(
        "",
        operation_id="registerNode",
        roles=NODE,
        security=security_for(NODE),
        status_code=201,
        dependencies=documented_body(NodeRegistration),
        responses={200: spec(Node, "A known node: its details were updated"), **_BODY_ERRORS},
    )
    async def register(self, request: Request[Any, Any, Any]) -> Response[Node]:
        """Register a node: pending until approved (registering at once with auto-approve)."""
        services: Services = request.app.state.services
        node, created = await services.lifecycle.add_node(await read_json(request, _REGISTRATION))
        return Response(node, status_code=201 if created else 200)

    @post(
        "/{runtime_id:str}/approve",
        operation_id="approveNode",
        roles=ADMIN,
        security=security_for(ADMIN),
        status_code=200,
        responses={409: spec(ErrorBody, "invalid_transition: not pending"), **_ERRORS},
    )
    async def approve(self, runtime_id: FromPath[str], services: NamedDependency[Services]) -> Node:
        """Approve a pending node."""
        return await services.lifecycle.approve(runtime_id)

    @post(
        "/{runtime_id:str}/heartbeat",
        operation_id="nodeHeartbeat",
        roles=NODE,
        security=security_for(NODE),
        uncompressed=True,  # the hot path: see compression_config in runtime/app.py
        status_code=200,
        dependencies=documented_body(Heartbeat),
        responses={
            200: spec(HeartbeatResponse, "The node's status and the desired models"),
            409: spec(ErrorBody, "invalid_transition: a report goes backwards"),
            **_BODY_ERRORS,
        },
    )
    async def heartbeat(self, request: Request[Any, Any, Any]) -> ASGIApp:
        """Take metrics and per-model reports; answer with the status and every registered model's manifest.

        The hot path (every node, every few seconds): ``create_app`` answers it in its own lane
        (runtime/lifecycle/heartbeat_lane.py) before Litestar routes it; this handler documents it
        and serves it in an app built without the lane, through the same ``answer``.
        """
        services: Services = request.app.state.services
        limit = request.route_handler.resolve_request_max_body_size()
        runtime_id = request.path_params["runtime_id"]
        return PreEncoded(await answer(services, runtime_id, request.scope, request.receive, limit))

    @get_with_head("", operation_id="listNodes", roles=READ, security=security_for(READ), responses=_ERRORS)
    async def list_nodes(self, services: NamedDependency[Services]) -> list[Node]:
        """Every node with its status and metrics."""
        return services.lifecycle.nodes()

    @get_with_head(
        "/{runtime_id:str}", operation_id="getNode", roles=READ, security=security_for(READ), responses=_ERRORS
    )
    async def detail(self, runtime_id: FromPath[str], services: NamedDependency[Services]) -> NodeDetail:
        """One node with its report on each model, by model id."""
        return services.lifecycle.node_detail(runtime_id)

    @delete(
        "/{runtime_id:str}",
        operation_id="deleteNode",
        roles=ADMIN,
        security=security_for(ADMIN),
        status_code=204,
        responses=_ERRORS,
    )
    async def remove(self, runtime_id: FromPath[str], services: NamedDependency[Services]) -> None:
        """Forget a node and its reports."""
        await services.lifecycle.delete_node(runtime_id)
