"""The Python side of generated/: typed structs, the frozen catalog and the lifecycle tables.

The types come from datamodel-code-generator (msgspec ``Struct``s, frozen through our override of
its msgspec template, sequences typed ``Sequence`` so the catalog can hold tuples); the catalog and
lifecycle modules come from Jinja templates fed by view-models built here.
"""

from __future__ import annotations

import json
import sys
import types
import warnings
from contextlib import contextmanager
from enum import Enum
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

import msgspec
from datamodel_code_generator import generate
from datamodel_code_generator.enums import DataModelType, InputFileType
from datamodel_code_generator.format import Formatter, PythonVersion

from codegen.errors import SchemaError
from codegen.render import TEMPLATES, environment, upper_snake
from codegen.schemas import declared_properties

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def render_types(bundle: dict[str, Any], header: str) -> str:
    """Every schema type as a frozen msgspec Struct, StrEnum or alias."""
    with warnings.catch_warnings():
        # Snapshot.items is a union of untagged structs: the server only encodes it, and
        # clients tell the variants apart by topic, so msgspec's decode-time warning does not apply.
        warnings.filterwarnings("ignore", message="msgspec cannot decode the union Snapshot.items")
        source = generate(
            json.dumps(bundle),
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.MsgspecStruct,
            custom_template_dir=TEMPLATES / "datamodel",
            use_generic_container_types=True,
            disable_timestamp=True,
            target_python_version=PythonVersion.PY_311,
            use_standard_collections=True,
            use_union_operator=True,
            use_annotated=True,
            field_constraints=True,
            keep_model_order=True,
            use_inline_field_description=True,
            use_schema_description=True,
            formatters=[Formatter.BUILTIN],
            custom_file_header=header,
        )
    if not isinstance(source, str):
        raise SchemaError("datamodel-code-generator returned no single module")
    return source


@contextmanager
def loaded_module(name: str, source: str) -> Iterator[types.ModuleType]:
    """Execute generated source as a throw-away module (msgspec resolves annotations through sys.modules)."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(source, f"<generated {name}>", "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[name]


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return encode_basestring(value)  # a JSON string literal is a valid Python one
    if isinstance(value, bool | int):
        return repr(value)
    raise SchemaError(f"cannot write {value!r} as a Python literal")


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


class _LiteralWriter:
    """Writes catalog values as Python source and remembers which generated names it used.

    Each struct's fields are planned once (a writer function per field, chosen from its schema), so
    writing 10,000 entries does not re-walk the schema for every value.
    """

    def __init__(self, bundle: dict[str, Any], module: types.ModuleType) -> None:
        self.bundle = bundle
        self.module = module
        self.used: set[str] = set()
        self._plans: dict[str, list[tuple[str, Callable[[Any], str]]]] = {}

    def _writer(self, schema: dict[str, Any]) -> Callable[[Any], str]:
        """How to write a value of ``schema``: enums as members, arrays as tuples, objects as structs."""
        name = schema.get("$ref", "").removeprefix("#/$defs/")
        definition = self.bundle["$defs"].get(name, {})
        if "enum" in definition:
            enum = getattr(self.module, name)
            assert issubclass(enum, Enum)
            members = {member.value: f"{name}.{member.name}" for member in enum}

            def member(value: Any) -> str:
                self.used.add(name)
                return members[value]

            return member
        if definition.get("type") == "object" or "allOf" in definition:
            return lambda value: self.struct(name, value)
        if schema.get("type") == "array":
            item = self._writer(schema.get("items", {}))
            return lambda value: _tuple([item(element) for element in value])
        return _scalar

    def struct(self, name: str, value: dict[str, Any], indent: str = "") -> str:
        """A keyword-argument call of struct ``name``, fields in schema order; one per line when ``indent``."""
        self.used.add(name)
        if name not in self._plans:
            properties = declared_properties(self.bundle["$defs"][name], self.bundle)
            self._plans[name] = [(field, self._writer(schema)) for field, schema in properties.items()]
        arguments = [f"{field}={write(value[field])}" for field, write in self._plans[name] if field in value]
        if indent:
            return f"{name}(\n" + "".join(f"{indent}    {a},\n" for a in arguments) + f"{indent})"
        return f"{name}(" + ", ".join(arguments) + ")"


def render_catalog(
    models: list[dict[str, Any]], bundle: dict[str, Any], types_source: str, header: str, version: str
) -> str:
    """The catalog as a module of frozen SupportedModel instances, with a read-only index by id."""
    with loaded_module("_codegen_preview_types", types_source) as module:
        # The generated types must accept the catalog exactly as the schema did.
        msgspec.convert(models, list[module.SupportedModel])  # type: ignore[name-defined]
        writer = _LiteralWriter(bundle, module)
        entries = [writer.struct("SupportedModel", model, indent="    ") for model in models]
    return (
        environment()
        .get_template("python/catalog.py.j2")
        .render(header=header, version=version, entries=entries, imports=sorted(writer.used | {"SupportedModel"}))
    )


def _transition_tables(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    tables = []
    for name, definition in bundle["$defs"].items():
        if "x-transitions" not in definition:
            continue
        enum_names = {value: value for value in definition["enum"]}
        tables.append(
            {
                "enum": name,
                "constant": upper_snake(name) + "_TRANSITIONS",
                "trigger": name + "Trigger",
                "triggers": sorted({edge["on"] for edge in definition["x-transitions"]}),
                "edges": [(enum_names[e["from"]], enum_names[e["to"]], e["on"]) for e in definition["x-transitions"]],
                "description": definition.get("description", ""),
            }
        )
    return tables


def render_lifecycle(bundle: dict[str, Any], types_source: str, header: str) -> str:
    """Each ``x-transitions`` table as a read-only mapping (from, to) -> trigger."""
    tables = _transition_tables(bundle)
    with loaded_module("_codegen_preview_types", types_source) as module:
        for table in tables:
            enum = getattr(module, table["enum"])
            table["edges"] = [(enum(a).name, enum(b).name, on) for a, b, on in table["edges"]]
    return environment().get_template("python/lifecycle.py.j2").render(header=header, tables=tables)


def render_init(header: str) -> str:
    """The package marker of generated/."""
    return environment().get_template("python/init.py.j2").render(header=header)
