"""``modelhub serve`` on a small catalog, without changing the runtime: ``python -m tests.runtime.e2e.small_server``.

The runtime takes its catalog from ``generated.catalog`` (``LifecycleService`` defaults to ``CATALOG_BY_ID``,
``HubCache`` and the Hugging Face stats to ``CATALOG``), whose files are 0.5-20 GB. This launcher renders
``catalog.py`` from a small JSON catalog with ``codegen.build.generate`` (validated exactly as
``python -m codegen build`` would), writes it to a temporary directory, and installs that module as
``generated.catalog`` in ``sys.modules`` *before* anything under ``runtime`` is imported, so every runtime
module binds the small catalog. Then it runs ``runtime.cli.serve``: ``create_app(Settings())`` under uvicorn,
with the settings, token checks and logging of ``modelhub serve``.

Usage (from the repository root, settings in the environment as for ``modelhub serve``)::

    python -m tests.runtime.e2e.small_server [--host H] [--port P] [--catalog FILE]

``running_small_server`` starts it in a subprocess for tests and benchmarks. This module imports nothing
from ``runtime`` at import time (the tests' conftest does: it must not be imported here either).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
"""The repository root (the launcher runs with it as the working directory)."""
NODES_CATALOG = ROOT / "tests" / "data" / "catalogs" / "nodes.json"
"""The default small catalog: 3 models of 1-20 MB."""
MODULE = "tests.runtime.e2e.small_server"


def install_catalog(catalog: Path, directory: Path) -> ModuleType:
    """Render ``catalog`` into ``directory/catalog.py`` and make it ``generated.catalog`` for this process.

    Raises:
        RuntimeError: A runtime module has already been imported (it would keep the real catalog).
        codegen.errors.CatalogInvalid: The catalog is not valid.
    """
    early = sorted(name for name in sys.modules if name == "runtime" or name.startswith("runtime."))
    if early:
        raise RuntimeError(f"install the catalog before importing the runtime (already imported: {early[:3]})")
    from codegen.build import generate

    path = directory / "catalog.py"
    path.write_text(generate(catalog)["catalog.py"], encoding="utf-8")
    spec = importlib.util.spec_from_file_location("generated.catalog", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["generated.catalog"] = module
    spec.loader.exec_module(module)
    import generated

    generated.catalog = module  # what `import generated.catalog` would set
    return module


def main(argv: Sequence[str] | None = None) -> int:
    """Install the small catalog, then serve like ``modelhub serve``; return the exit status."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--catalog", type=Path, default=NODES_CATALOG, help="a catalog JSON file (default nodes.json)")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelhub-small-catalog-") as directory:
        module = install_catalog(arguments.catalog, Path(directory))
        ids = ", ".join(model.id for model in module.CATALOG)
        print(f"small_server: catalog {arguments.catalog} ({ids})", file=sys.stderr, flush=True)
        from runtime.cli import serve

        try:
            return serve(arguments.host, arguments.port, dev=False)
        except KeyboardInterrupt:
            return 130


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_small_server(
    log_dir: Path,
    env: Mapping[str, str],
    *,
    catalog: Path = NODES_CATALOG,
    cpus: Sequence[int] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The launcher in a subprocess on a free loopback port until the block ends; yields (base URL, process).

    ``env`` is added to this process's environment (the ``MODELHUB_*`` settings, ``HF_ENDPOINT``...). The
    server's output goes to ``log_dir/small-server-<port>.log`` (a file: a full pipe would block it); the
    process gets SIGTERM at the end (SIGKILL after 10 s). ``cpus`` pins it (``taskset``, for benchmarks).
    """
    import httpx

    port = free_port()
    log_path = log_dir / f"small-server-{port}.log"
    command = [sys.executable, "-m", MODULE, "--port", str(port), "--catalog", str(catalog)]
    if cpus:
        command = ["taskset", "--cpu-list", ",".join(map(str, cpus)), *command]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the small-catalog server did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
