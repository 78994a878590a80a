"""What the OpenAPI document says beyond the handlers' signatures: our error bodies and strict request bodies.

Litestar documents a 400 of its own shape for every handler with parameters, while every error here
is ``{"error": {code, message, pointer?}}``; and it leaves ``additionalProperties`` open on msgspec
structs, while ours forbid unknown fields (a request with one is refused with 422). A client
generated from the document, or schemathesis, would otherwise send what the server refuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec

from generated.types import ErrorBody

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

__all__ = ["ERRORS", "StrictStructSchemaPlugin"]

ERRORS = {
    status: ResponseSpec(ErrorBody, description=text)
    for status, text in (
        (400, "validation_error: the body is not JSON, or a path or query parameter is malformed"),
        (401, "No token or an unknown token (unauthorized)"),
        (403, "A token of the wrong kind (forbidden)"),
        (422, "validation_error: the body breaks the schema or a rule; the message and pointer name the field"),
    )
}
"""Responses every authenticated route may give, with our error body."""


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's msgspec struct schemas, with ``additionalProperties: false`` where unknown fields are refused."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        """The struct's schema; closed when the struct forbids unknown fields."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
