"""HTTP routes of worker nodes: registration, approval, heartbeats, listing and removal."""

from __future__ import annotations

import msgspec
from litestar import Controller, MediaType, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from generated.types import ErrorBody, Heartbeat, HeartbeatResponse, Node, NodeRegistration
from runtime.auth import ADMIN, NODE, READ
from runtime.catalog.services import ManifestCache
from runtime.nodes.services import LifecycleService

_ERRORS = {
    401: ResponseSpec(ErrorBody, description="No token or an unknown token (unauthorized)"),
    403: ResponseSpec(ErrorBody, description="A token of the wrong kind, or a node still pending (forbidden)"),
    404: ResponseSpec(ErrorBody, description="node_not_found"),
}


class NodesController(Controller):
    """``/v0/nodes``."""

    path = "/v0/nodes"
    tags = ["nodes"]  # noqa: RUF012 - Litestar's own attribute

    @post(
        "",
        operation_id="registerNode",
        roles=NODE,
        status_code=201,
        responses={200: ResponseSpec(Node, description="A known node: its details were updated"), **_ERRORS},
    )
    async def register(
        self, data: JSONBody[NodeRegistration], lifecycle: NamedDependency[LifecycleService]
    ) -> Response[Node]:
        """Register a node: pending until approved (registering at once with auto-approve)."""
        node, created = await lifecycle.add_node(data)
        return Response(node, status_code=201 if created else 200)

    @post(
        "/{runtime_id:str}/approve",
        operation_id="approveNode",
        roles=ADMIN,
        status_code=200,
        responses={409: ResponseSpec(ErrorBody, description="invalid_transition: not pending"), **_ERRORS},
    )
    async def approve(self, runtime_id: FromPath[str], lifecycle: NamedDependency[LifecycleService]) -> Node:
        """Approve a pending node."""
        return await lifecycle.approve(runtime_id)

    @post(
        "/{runtime_id:str}/heartbeat",
        operation_id="nodeHeartbeat",
        roles=NODE,
        status_code=200,
        responses={
            200: ResponseSpec(HeartbeatResponse, description="The node's status and the desired models"),
            409: ResponseSpec(ErrorBody, description="invalid_transition: a report goes backwards"),
            **_ERRORS,
        },
    )
    async def heartbeat(
        self,
        runtime_id: FromPath[str],
        data: JSONBody[Heartbeat],
        lifecycle: NamedDependency[LifecycleService],
        manifests: NamedDependency[ManifestCache],
    ) -> Response[bytes]:
        """Take metrics and per-model reports; answer with the status and every registered model's manifest."""
        status = await lifecycle.heartbeat(runtime_id, data)
        body = b'{"status":' + msgspec.json.encode(status) + b',"models":' + manifests.encoded + b"}"
        return Response(body, media_type=MediaType.JSON)

    @get("", operation_id="listNodes", roles=READ, responses=_ERRORS)
    async def list_nodes(self, lifecycle: NamedDependency[LifecycleService]) -> list[Node]:
        """Every node with its status and metrics."""
        return lifecycle.nodes()

    @delete("/{runtime_id:str}", operation_id="deleteNode", roles=ADMIN, status_code=204, responses=_ERRORS)
    async def remove(self, runtime_id: FromPath[str], lifecycle: NamedDependency[LifecycleService]) -> None:
        """Forget a node and its reports."""
        await lifecycle.delete_node(runtime_id)
