"""``python -m codegen validate|build|check``: the catalog toolchain's command line.

Exit status: 0 success; 1 invalid catalog, unusable schema or stale generated/; 2 usage error
or an unexpected internal error. Problems print one per line; users never see a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen import build, schemas
from codegen.errors import CatalogInvalid, CodegenError
from codegen.validate import validate_file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m codegen", description="Validate the catalog and generate code.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate a catalog file (default supported_models.json)")
    validate.add_argument("file", nargs="?", type=Path, default=build.CATALOG)
    for name, text in (
        ("build", "validate, then write generated/"),
        ("check", "exit 1 with a diff if generated/ is stale"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--catalog", type=Path, default=build.CATALOG, help="catalog file")
        command.add_argument("--schema-dir", type=Path, default=build.SCHEMA_DIR, help="schema directory")
        command.add_argument("--out", type=Path, default=build.GENERATED, help="output directory")
    return parser


def _validate(file: Path) -> int:
    document, diagnostics = validate_file(file, build.display_name(file), schemas.load(build.SCHEMA_DIR).catalog)
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=sys.stderr)
    if diagnostics:
        return 1
    print(f"{build.display_name(file)}: valid, {len(document['models'])} models")
    return 0


def _run(arguments: argparse.Namespace) -> int:
    if arguments.command == "validate":
        return _validate(arguments.file)
    files = build.generate(arguments.catalog, arguments.schema_dir)
    if arguments.command == "build":
        changed = build.write(files, arguments.out)
        print(f"{build.display_name(arguments.out)}: {len(files)} files, {len(changed)} changed")
        return 0
    stale = build.diff(files, arguments.out)
    if stale:
        sys.stdout.write(stale)
        print(f'{build.display_name(arguments.out)} is stale; run "just build"', file=sys.stderr)
        return 1
    print(f"{build.display_name(arguments.out)}: up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = _parser().parse_args(argv)
    try:
        return _run(arguments)
    except CatalogInvalid as error:
        for diagnostic in error.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        return 1
    except CodegenError as error:
        print(f"codegen: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        print(f"codegen: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
