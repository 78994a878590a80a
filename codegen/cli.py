"""``python -m codegen validate|build|check|add|verify|diff``: the catalog toolchain's command line.

Exit status: 0 success; 1 invalid catalog, unusable schema, stale generated/, a mismatch found by
``verify --online`` or a repository, revision or file the Hub says is not there; 2 usage error, an
unexpected internal error, or ``add`` needing a ``--file`` among several candidates; 3 the Hub could
not be asked (``add``, ``verify --online``). Problems print one per line; users never see a traceback.
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
    add = commands.add_parser("add", help="ask the Hub about a repository and append a validated entry")
    add.add_argument("repo", help="Hugging Face repository, org/name")
    add.add_argument("--file", help="the weight file (required when the repository has several)")
    add.add_argument("--revision", help="a branch, tag or commit (default main); the entry pins the commit")
    add.add_argument("--id", dest="model_id", help="the model id (default: proposed from the file name)")
    add.add_argument("--catalog", type=Path, default=build.CATALOG, help="catalog file")
    verify = commands.add_parser("verify", help="check every entry against the Hub (--online)")
    verify.add_argument("file", nargs="?", type=Path, default=build.CATALOG)
    verify.add_argument("--online", action="store_true", required=True, help="ask the Hub (required)")
    verify.add_argument("--concurrency", type=_positive, default=8, help="requests at a time (default 8)")
    verify.add_argument("--budget", type=_positive, default=1000, help="most requests to send (default 1000)")
    verify.add_argument("--show-missing", action="store_true", help="list absent sha256/revision the Hub states")
    diff = commands.add_parser("diff", help="what changes between two catalogs, per model id")
    diff.add_argument("old", help="a catalog file, or git:REF[:PATH]")
    diff.add_argument("new", help="a catalog file, or git:REF[:PATH]")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _diff(old: str, new: str) -> int:
    from codegen import catalog_diff as diff

    schema = schemas.load(build.SCHEMA_DIR).catalog
    before, after = diff.load(old, schema, build.ROOT), diff.load(new, schema, build.ROOT)
    lines = diff.changes(before, after)
    for line in lines:
        print(line)
    print(diff.summary(lines, before, after), file=sys.stderr)
    return 0


def _online(arguments: argparse.Namespace) -> int:
    from codegen import add, verify

    if arguments.command == "add":
        request = add.AddRequest(
            arguments.repo, arguments.file, arguments.revision, arguments.model_id, arguments.catalog
        )
        return add.run(request)
    overrides = {"concurrency": arguments.concurrency, "budget": arguments.budget}
    return verify.run(arguments.file, show_missing=arguments.show_missing, overrides=overrides)


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
    if arguments.command == "diff":
        return _diff(arguments.old, arguments.new)
    if arguments.command in ("add", "verify"):
        return _online(arguments)
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
