"""Decoding the server's answers into the generated wire types, ignoring fields this release does not know.

A node (agent or simulator) may be one release older or newer than the server, so an answer may carry
a field the node's ``generated/types.py`` does not declare. The generated structs forbid unknown fields
(``forbid_unknown_fields=True``): right for the server, which stays strict on its input, wrong for a
client reading the server's output. Rather than generate a lenient twin of every type the server
sends (twice the generated code, and the twins would need converting into the real types anyway),
``LenientDecoder`` decodes in two passes: the JSON into plain Python values, from which every object
key that the target struct does not declare is dropped (walking the type as ``msgspec.inspect`` sees
it, tags of tagged unions kept), then ``msgspec.convert`` into the generated type. Every other rule of
the generated types (required fields, types, enums, bounds, patterns) still applies. The pruning is
plain Python: an answer with 20 manifests takes about 0.2 ms instead of 0.02 ms, which matters to
neither client: the agent decodes one answer per heartbeat, and the simulator keeps decoded answers
by their bytes (most nodes get the same ones).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from msgspec import inspect

T = TypeVar("T")

_ARRAYS = (inspect.ListType, inspect.VarTupleType, inspect.SetType, inspect.FrozenSetType)


class LenientDecoder(Generic[T]):
    """``msgspec.json.Decoder(kind)`` that drops object fields ``kind`` does not declare, at any depth."""

    def __init__(self, kind: type[T]) -> None:
        """Prepare for ``kind``: a generated struct, or a container of them (``list[ModelManifest]``)."""
        self.kind = kind
        self._info = inspect.type_info(kind)

    def decode(self, content: bytes | str) -> T:
        """Decode ``content`` into ``kind``.

        Raises:
            msgspec.DecodeError: Not JSON, or (``msgspec.ValidationError``) not a valid ``kind`` once the
                unknown fields are gone.
        """
        value = _prune(msgspec.json.decode(content), self._info)
        result: T = msgspec.convert(value, self.kind)
        return result


def _prune(value: Any, info: inspect.Type) -> Any:
    """``value`` without the object keys that ``info`` does not declare (unknown shapes are left as they are)."""
    if isinstance(info, inspect.Metadata):
        return _prune(value, info.type)
    if isinstance(info, inspect.StructType):
        if not isinstance(value, dict) or info.array_like:
            return value
        fields = {field.encode_name: field.type for field in info.fields}
        pruned = {key: _prune(item, fields[key]) for key, item in value.items() if key in fields}
        if info.tag_field is not None and info.tag_field in value:
            pruned[info.tag_field] = value[info.tag_field]
        return pruned
    if isinstance(info, _ARRAYS):
        return [_prune(item, info.item_type) for item in value] if isinstance(value, list) else value
    if isinstance(info, inspect.TupleType):
        if not isinstance(value, list) or len(value) != len(info.item_types):
            return value
        return [_prune(item, item_type) for item, item_type in zip(value, info.item_types, strict=True)]
    if isinstance(info, inspect.DictType):
        return {key: _prune(item, info.value_type) for key, item in value.items()} if isinstance(value, dict) else value
    if isinstance(info, inspect.UnionType):
        chosen = _member(value, info)
        return value if chosen is None else _prune(value, chosen)
    return value


def _member(value: Any, union: inspect.UnionType) -> inspect.Type | None:
    """The member of ``union`` that an object or array ``value`` is decoded as, when it is known."""
    members = [member.type if isinstance(member, inspect.Metadata) else member for member in union.types]
    if isinstance(value, dict):
        structs = [member for member in members if isinstance(member, inspect.StructType)]
        if len(structs) == 1:
            return structs[0]
        for struct in structs:  # a tagged union: msgspec picks the member by its tag
            if struct.tag_field is not None and value.get(struct.tag_field) == struct.tag:
                return struct
        return next((member for member in members if isinstance(member, inspect.DictType)), None)
    if isinstance(value, list):
        return next((member for member in members if isinstance(member, (*_ARRAYS, inspect.TupleType))), None)
    return None
