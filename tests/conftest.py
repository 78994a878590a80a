from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from codegen import build
from tests.adversarial.services import PrivatePostgres

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SMALL_CATALOG = DATA / "catalogs" / "small.json"
_module_names = itertools.count()


@pytest.fixture(scope="session")
def small_files() -> dict[str, str]:
    """generated/ as `just build` would write it for the small fixture catalog."""
    return build.generate(SMALL_CATALOG)


def import_generated_catalog(files: dict[str, str], directory: Path) -> ModuleType:
    """Import a generated catalog.py under a fresh name (it imports the repository's generated.types)."""
    path = directory / "catalog.py"
    path.write_text(files["catalog.py"], encoding="utf-8")
    name = f"_test_catalog_{next(_module_names)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def small_catalog_module(small_files: dict[str, str], tmp_path: Path) -> ModuleType:
    return import_generated_catalog(small_files, tmp_path)


def node_tool(name: str) -> Path:
    """A binary from ui/node_modules/.bin, or skip with the command that installs it."""
    tool = ROOT / "ui" / "node_modules" / ".bin" / name
    if not tool.exists() or shutil.which("node") is None:
        pytest.skip(f"{name} is not installed: run `just ui-deps` (needs Node.js 20+)")
    return tool


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster of the test's own (never the machine's), to stop and start at will."""
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.close()
