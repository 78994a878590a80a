"""``modelhub serve`` on a small catalog: ``python -m tests.runtime.e2e.small_server``.

The server's catalog is ``create_app``'s ``catalog`` argument (the generated one by default, whose files are
0.5-20 GB). This launcher renders ``catalog.py`` from a small JSON catalog with ``codegen.build.generate``
(validated exactly as ``python -m codegen build`` would), loads it as a module of its own (``generated.catalog``
is left alone) and serves ``create_app(Settings(), catalog=<its CATALOG>)`` under uvicorn, with the settings,
token checks and logging of ``modelhub serve``.

Usage (from the repository root, settings in the environment as for ``modelhub serve``)::

    python -m tests.runtime.e2e.small_server [--host H] [--port P] [--catalog FILE]

``running_small_server`` starts it in a subprocess for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
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

    from generated.types import SupportedModel

ROOT = Path(__file__).resolve().parents[3]
"""The repository root (the launcher runs with it as the working directory)."""
NODES_CATALOG = ROOT / "tests" / "data" / "catalogs" / "nodes.json"
"""The default small catalog: 3 models of 1-20 MB."""
MODULE = "tests.runtime.e2e.small_server"


SMALL_CATALOG_MODULE = "modelhub_small_catalog"
"""The name the rendered catalog is loaded under (not ``generated.catalog``: the runtime keeps its own)."""


def load_catalog(catalog: Path, directory: Path) -> ModuleType:
    """Render ``catalog`` into ``directory/catalog.py`` and load it (its ``CATALOG``, ``CATALOG_BY_ID``...).

    Raises:
        codegen.errors.CatalogInvalid: The catalog is not valid.
    """
    from codegen.build import generate

    path = directory / "catalog.py"
    path.write_text(generate(catalog)["catalog.py"], encoding="utf-8")
    spec = importlib.util.spec_from_file_location(SMALL_CATALOG_MODULE, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(host: str, port: int, catalog: Sequence[SupportedModel]) -> int:
    """``modelhub serve`` (``runtime.cli.serve``) with ``catalog`` instead of the generated one."""
    import uvicorn

    from runtime import cli
    from runtime.app import create_app
    from runtime.events.protocol import MAX_FRAME_BYTES

    settings = cli._load_settings()
    if settings is None:
        return 2
    if settings.admin_token is None or settings.node_token is None:
        print("small_server: MODELHUB_ADMIN_TOKEN and MODELHUB_NODE_TOKEN must be set.", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, catalog=catalog)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, ws_max_size=MAX_FRAME_BYTES)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Load the small catalog, then serve like ``modelhub serve``; return the exit status."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--catalog", type=Path, default=NODES_CATALOG, help="a catalog JSON file (default nodes.json)")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelhub-small-catalog-") as directory:
        module = load_catalog(arguments.catalog, Path(directory))
        ids = ", ".join(model.id for model in module.CATALOG)
        print(f"small_server: catalog {arguments.catalog} ({ids})", file=sys.stderr, flush=True)
        try:
            return serve(arguments.host, arguments.port, module.CATALOG)
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
