"""The catalog toolchain: validate supported_models.json and generate typed code from schema/."""

from __future__ import annotations

from codegen.build import catalog_version, diff, generate, write
from codegen.cli import main
from codegen.diagnostics import Diagnostic, Finding
from codegen.errors import CatalogInvalid, CodegenError, SchemaError
from codegen.validate import validate_file, validate_text

__all__ = [
    "CatalogInvalid",
    "CodegenError",
    "Diagnostic",
    "Finding",
    "SchemaError",
    "catalog_version",
    "diff",
    "generate",
    "main",
    "validate_file",
    "validate_text",
    "write",
]
