"""What the OpenAPI document says beyond the handlers' signatures: error bodies, security and strict request bodies.

Litestar documents a 400 of its own shape for every handler with parameters, while every error here
is ``{"error": {code, message, pointer?}}``; and it leaves ``additionalProperties`` open on msgspec
structs, while ours forbid unknown fields (a request with one is refused with 422). A client
generated from the document, or schemathesis, would otherwise send what the server refuses.

Every response is declared with :func:`spec`, never a bare ``ResponseSpec``: Litestar's default
``generate_examples=True`` fills the schemas with random examples that break their own rules (a
progress of 874.65, a required memory below the size), and generates them with a schema registry of
its own, whose references to enums in arrays point at components that never reach the document
(``generated_types_Capability``).

Each route names the roles it admits (``roles=``, see runtime/auth.py); :func:`security_for` turns
them into the operation's ``security``: one bearer scheme per kind of token, any of which will do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import route
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.enums import HttpMethod
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme

from generated.types import ErrorBody, Role

if TYPE_CHECKING:
    from collections.abc import Set

    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.handlers import HTTPRouteHandler
    from litestar.openapi.spec import Schema, SecurityRequirement
    from litestar.types.callable_types import OperationIDCreator
    from litestar.typing import FieldDefinition

__all__ = [
    "BODY_ERRORS",
    "COMPONENTS",
    "ERRORS",
    "StrictStructSchemaPlugin",
    "get_with_head",
    "per_method",
    "security_for",
    "spec",
]


def spec(model: Any, description: str) -> ResponseSpec:
    """A documented response of ``model``, without Litestar's generated examples (see the module's docstring)."""
    return ResponseSpec(model, description=description, generate_examples=False)


ERRORS = {
    status: spec(ErrorBody, text)
    for status, text in (
        (400, "validation_error: the body is not JSON, or a path or query parameter is malformed"),
        (401, "No token or an unknown token (unauthorized)"),
        (403, "A token of the wrong kind (forbidden)"),
        (422, "validation_error: the body breaks the schema or a rule; the message and pointer name the field"),
    )
}
"""Responses every authenticated route may give, with our error body."""

BODY_ERRORS = {
    **ERRORS,
    413: spec(ErrorBody, "payload_too_large: the body is over the server's limit (MODELHUB_MAX_BODY_BYTES)"),
    415: spec(ErrorBody, "unsupported_media_type: the body is not sent as application/json"),
}
"""Responses of a route that reads a JSON body: those of :data:`ERRORS`, and 413 and 415."""

_SCHEMES = {
    Role.admin: "adminToken",
    Role.node: "nodeToken",
    Role.read: "readToken",
}
_WHO = {
    Role.admin: "The admin token (MODELHUB_ADMIN_TOKEN): registers models, approves and removes nodes; may also read.",
    Role.node: "The node token (MODELHUB_NODE_TOKEN): what node agents register and send heartbeats with.",
    Role.read: "The read token (MODELHUB_READ_TOKEN): dashboards and clients that only look.",
}

COMPONENTS = Components(
    security_schemes={
        name: SecurityScheme(type="http", scheme="bearer", description=f"{_WHO[role]} Send Authorization: Bearer.")
        for role, name in _SCHEMES.items()
    }
)
"""The bearer schemes, one per kind of token, for ``OpenAPIConfig(components=...)``."""


def security_for(roles: Set[Role]) -> list[SecurityRequirement]:
    """The ``security`` of a route that admits ``roles``: a token of any of them will do."""
    return [{_SCHEMES[role]: []} for role in sorted(roles)]


def get_with_head(path: str, *, operation_id: str, **options: Any) -> HTTPRouteHandler:
    """``@get`` that answers HEAD too: the GET's status and headers without the body.

    The server drops the body of a HEAD answer (uvicorn sends none), so a handler need not know
    which of the two it serves. Each method gets its own operation id (``per_method``).
    """
    return route(path, http_method=[HttpMethod.GET, HttpMethod.HEAD], operation_id=per_method(operation_id), **options)


def per_method(operation_id: str) -> OperationIDCreator:
    """Operation ids for a handler of GET and HEAD: ``operation_id`` for GET, ``operation_id + "Head"`` for HEAD."""

    def create(_: Any, method: Any, __: Any) -> str:
        return operation_id if method == HttpMethod.GET else operation_id + HttpMethod(method).value.title()

    return create


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's msgspec struct schemas, with ``additionalProperties: false`` where unknown fields are refused."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        """The struct's schema; closed when the struct forbids unknown fields."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
