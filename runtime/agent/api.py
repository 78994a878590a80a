"""The Model Hub server as the node sees it: register, heartbeat and the registered models' manifests.

Bodies are the generated wire types, encoded with msgspec; answers are decoded with
``wire.LenientDecoder``, which ignores fields this release does not know (a newer server may add
some). Every failure becomes one of
the ``ServerError`` classes of ``runtime.agent.errors``; the node token is sent as a bearer token and
appears in no message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from generated.types import ErrorBody, HeartbeatResponse, ModelManifest, Node
from runtime.agent.errors import (
    Forbidden,
    InvalidTransition,
    ModelRejected,
    NodeNotFound,
    NodePending,
    ServerRejected,
    ServerUnavailable,
    Unauthorized,
)
from runtime.agent.wire import LenientDecoder

if TYPE_CHECKING:
    from types import TracebackType

    from generated.types import Heartbeat, NodeRegistration

T = TypeVar("T")

_BY_CODE: dict[str, type[ServerRejected]] = {
    "node_not_found": NodeNotFound,
    "not_registered": ModelRejected,
    "model_not_supported": ModelRejected,
    "invalid_transition": InvalidTransition,
}
_JSON = {"content-type": "application/json"}
_NODE = LenientDecoder(Node)
_HEARTBEAT_RESPONSE = LenientDecoder(HeartbeatResponse)
_MANIFESTS = LenientDecoder(list[ModelManifest])
_ERROR = LenientDecoder(ErrorBody)


class ServerClient:
    """An ``httpx.AsyncClient`` on the server's base URL, with the node token; use it as ``async with``."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Prepare the client.

        Args:
            server: The server's base URL, e.g. ``http://hub:8000``.
            token: The node token (``MODELHUB_NODE_TOKEN`` of the server).
            timeout: Seconds per request.
            transport: Another transport, e.g. ``httpx.MockTransport`` in tests.
        """
        self._client = httpx.AsyncClient(
            base_url=server.rstrip("/"),
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> ServerClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def register(self, registration: NodeRegistration) -> Node:
        """``POST /v0/nodes``: register (or update) this node.

        Raises:
            Unauthorized: 401, the token is unknown.
            Forbidden: 403, the token is not a node token.
            ServerRejected: Another 4xx.
            ServerUnavailable: No usable answer.
        """
        response = await self._send("POST", "/v0/nodes", msgspec.json.encode(registration))
        return _decode(response, _NODE)

    async def heartbeat(self, runtime_id: str, heartbeat: Heartbeat) -> HeartbeatResponse:
        """``POST /v0/nodes/{runtime_id}/heartbeat``: report; the answer holds the desired set.

        Raises:
            NodePending: 403, the node is not approved yet.
            NodeNotFound: The server does not know the node.
            ModelRejected: A report names a model that is not registered (or not in the catalog).
            InvalidTransition: A report does not follow from the server's state.
            Unauthorized: 401.
            ServerRejected: Another 4xx (422: a report breaks a rule).
            ServerUnavailable: No usable answer.
        """
        path = f"/v0/nodes/{quote(runtime_id, safe='')}/heartbeat"
        response = await self._send("POST", path, msgspec.json.encode(heartbeat), forbidden=NodePending)
        return _decode(response, _HEARTBEAT_RESPONSE)

    async def models(self) -> list[ModelManifest]:
        """``GET /v0/models``: every registered model with its manifest."""
        response = await self._send("GET", "/v0/models")
        return _decode(response, _MANIFESTS)

    async def _send(
        self, method: str, path: str, body: bytes | None = None, *, forbidden: type[ServerRejected] = Forbidden
    ) -> httpx.Response:
        try:
            response = await self._client.request(method, path, content=body, headers=_JSON if body else None)
        except httpx.HTTPError as error:
            raise ServerUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from error
        if response.status_code < 400:
            return response
        if response.status_code >= 500 or response.status_code == 429:
            raise ServerUnavailable(f"{method} {path}: HTTP {response.status_code}")
        pointer: str | None = None
        try:
            detail = _ERROR.decode(response.content).error
            code, message = detail.code, detail.message
            pointer = detail.pointer if isinstance(detail.pointer, str) else None
        except msgspec.DecodeError:
            code, message = "unknown", response.text[:200] or response.reason_phrase
        status = response.status_code
        by_status: dict[int, type[ServerRejected]] = {401: Unauthorized, 403: forbidden}
        kind = by_status.get(status) or _BY_CODE.get(code, ServerRejected)
        raise kind(status, code, message, pointer)


def _decode(response: httpx.Response, decoder: LenientDecoder[T]) -> T:
    try:
        return decoder.decode(response.content)
    except msgspec.DecodeError as error:
        path = response.request.url.path
        raise ServerUnavailable(f"{path}: the answer does not match the wire types: {error}") from error
