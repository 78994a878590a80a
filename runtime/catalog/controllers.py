"""HTTP routes of the catalog: the hub, registration, node manifests and the OpenAI-compatible list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, delete, post
from litestar.di import NamedDependency
from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIType, Operation, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from litestar.params import FromPath
from litestar.types import ASGIApp

from generated.types import (
    ErrorBody,
    HubItem,
    ModelDetail,
    ModelManifest,
    OpenAiModel,
    OpenAiModelList,
    OrphanedRegistration,
    RegisterRequest,
)
from runtime.auth import ADMIN, NODE_OR_ADMIN, READ
from runtime.catalog.services import openai_model, openai_models
from runtime.deps import Services
from runtime.errors import AppClientError, ModelNotSupported
from runtime.json_body import documented_body, read_json
from runtime.lifecycle.service import rfc3339
from runtime.openapi_docs import BODY_ERRORS, ERRORS, get_with_head, security_for, spec
from runtime.preencoded import PreEncoded, request_header

_REGISTER = msgspec.json.Decoder(RegisterRequest)


@dataclass
class _HubOperation(Operation):
    """The hub's OpenAPI operation, with the ``q`` parameter its handler reads by hand."""

    def __post_init__(self) -> None:
        query = OpenAPIParameter(
            name="q",
            param_in=ParamType.QUERY,
            required=False,
            schema=Schema(type=OpenAPIType.STRING),
            description="Only models whose name, description or tags contain every word (case-insensitive).",
        )
        self.parameters = [*(self.parameters or []), query]


class ModelNotFound(AppClientError):
    """The model is not ready on any online node (OpenAI-compatible list)."""

    status_code = 404
    code = "model_not_found"
    message = "This model is not ready on any online node."


class ModelsController(Controller):
    """``/v0/models``: the hub, registration and the nodes' manifests."""

    path = "/v0/models"
    tags = ["models"]  # noqa: RUF012 - Litestar's own attribute

    @get_with_head(
        "/hub",
        operation_id="listHub",
        operation_class=_HubOperation,
        roles=READ,
        security=security_for(READ),
        summary="Every catalog model with its status, node counts, byte sums and Hugging Face stats",
        responses={200: spec(list[HubItem], "The hub, in catalog order"), **ERRORS},
        uncompressed=True,  # it serves its own pre-compressed copy
    )
    async def hub(self, request: Request[Any, Any, Any]) -> ASGIApp:
        """Serve the pre-encoded hub (gzipped once per change when accepted); the current ETag gets 304.

        The hot path: it reads its service and ``q`` from the request itself, since Litestar's
        parameter parsing and dependency injection cost a fifth of the request; and it keeps a
        compressed copy next to the encoded one, since gzip per request would cost more than the rest.
        """
        services: Services = request.app.state.services
        query = request.query_params.get("q") if request.scope["query_string"] else None  # parse only if any
        gzipped = b"gzip" in (request_header(request.scope, b"accept-encoding") or b"")
        body, etag = services.hub.gzipped(query) if gzipped else services.hub.body(query)
        headers = [(b"etag", etag), (b"cache-control", b"no-cache"), (b"vary", b"accept-encoding")]
        if etag in (request_header(request.scope, b"if-none-match") or b""):
            return PreEncoded(b"", status=304, headers=tuple(headers))
        if gzipped:
            headers.append((b"content-encoding", b"gzip"))
        return PreEncoded(body, headers=tuple(headers))

    @post(
        "/register",
        operation_id="registerModel",
        roles=ADMIN,
        security=security_for(ADMIN),
        status_code=201,
        dependencies=documented_body(RegisterRequest),
        responses={
            404: spec(ErrorBody, "model_not_supported"),
            409: spec(ErrorBody, "already_registered"),
            **BODY_ERRORS,
        },
    )
    async def register(self, request: Request[Any, Any, Any]) -> HubItem:
        """Register a catalog model by id, or by repository (and file)."""
        services: Services = request.app.state.services
        data = await read_json(request, _REGISTER)
        model_id = services.lifecycle.resolve(_set(data.model_id), _set(data.repo), _set(data.filename))
        await services.lifecycle.register(model_id)
        return services.hub.item(model_id)

    @get_with_head(
        "/orphaned",
        operation_id="listOrphanedRegistrations",
        roles=READ,
        security=security_for(READ),
        summary="Registered models this release's catalog no longer has (kept until an admin deletes them)",
        responses={200: spec(list[OrphanedRegistration], "By model id"), **ERRORS},
    )
    async def orphaned(self, services: NamedDependency[Services]) -> list[OrphanedRegistration]:
        """Registrations of models a catalog release removed: not served, their files kept on the nodes."""
        return [
            OrphanedRegistration(model_id=record.model_id, registered_at=rfc3339(record.registered_at))
            for record in services.lifecycle.orphaned()
        ]

    @get_with_head(
        "/{model_id:str}",
        operation_id="getModel",
        roles=READ,
        security=security_for(READ),
        responses={404: spec(ErrorBody, "model_not_supported"), **ERRORS},
    )
    async def detail(self, model_id: FromPath[str], services: NamedDependency[Services]) -> ModelDetail:
        """One catalog model: its hub item plus every node's report on it, by runtime id."""
        if model_id not in services.lifecycle.catalog:
            raise ModelNotSupported(f"{model_id!r} is not in the catalog.")
        return services.hub.detail(model_id)

    @delete(
        "/{model_id:str}",
        operation_id="deleteModel",
        roles=ADMIN,
        security=security_for(ADMIN),
        status_code=204,
        responses={404: spec(ErrorBody, "not_registered"), **ERRORS},
    )
    async def remove(self, model_id: FromPath[str], services: NamedDependency[Services]) -> None:
        """Unregister a model; nodes delete its files on their next heartbeat."""
        await services.lifecycle.unregister(model_id)

    @get_with_head(
        "",
        operation_id="listManifests",
        roles=NODE_OR_ADMIN,
        security=security_for(NODE_OR_ADMIN),
        responses={200: spec(list[ModelManifest], "Registered models with their files"), **ERRORS},
    )
    async def manifests(self, services: NamedDependency[Services]) -> ASGIApp:
        """Every registered model with the files a node fetches."""
        return PreEncoded(services.manifests.encoded)


class OpenAIController(Controller):
    """``/v1/models``: models ready on an online node, as the OpenAI API lists them."""

    path = "/v1/models"
    tags = ["openai"]  # noqa: RUF012 - Litestar's own attribute
    opt = {"roles": READ}  # noqa: RUF012 - Litestar's own attribute
    security = security_for(READ)

    @get_with_head("", operation_id="openaiListModels", responses=ERRORS)
    async def list_models(self, services: NamedDependency[Services]) -> OpenAiModelList:
        """The OpenAI-compatible model list."""
        return openai_models(services.lifecycle)

    @get_with_head(
        "/{model_id:str}",
        operation_id="openaiRetrieveModel",
        responses={404: spec(ErrorBody, "model_not_found"), **ERRORS},
    )
    async def retrieve(self, model_id: FromPath[str], services: NamedDependency[Services]) -> OpenAiModel:
        """One model, if it is ready on an online node."""
        model = openai_model(services.lifecycle, model_id)
        if model is None:
            raise ModelNotFound(f"{model_id} is not ready on any online node.")
        return model


def _set(value: str | object) -> str | None:
    """A request field's value, or None when the client left it out."""
    return value if isinstance(value, str) else None
