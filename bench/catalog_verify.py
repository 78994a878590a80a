"""Benchmark ``python -m codegen verify --online`` against the fake Hub on loopback.

Three runs, each against a fake Hub in its own process (so the client and the server do not share a GIL):

* the real catalog (supported_models.json), which the fake Hub mirrors, so every entry matches;
* a synthetic catalog of ``--entries`` (default 1,000) one-file GGUF entries in as many repositories, each
  with a pinned revision and the exact sha256 of the bytes the fake Hub serves;
* the same synthetic catalog with the fake Hub's ``latency`` fault at ``--latency`` (default 0.2 s).

Figures: wall time of ``codegen.verify.run`` (in this process, output discarded), Hub requests per entry
(from the fake Hub's ``/_fake/stats``), and, as the baseline measured in the same run, the same model-info
requests sent by a bare ``httpx.AsyncClient`` at the same concurrency (what any client would pay).

Goals from the issue: at most 1 Hub request per one-file entry, and with the latency fault a wall time of
at most ``entries x latency / concurrency + 10 %``.

Run from the repository root::

    .venv/bin/python bench/catalog_verify.py [--entries 1000] [--latency 0.2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._measure import free_port, table, verdict  # noqa: E402
from codegen import verify  # noqa: E402
from runtime.fakehub import file_sha256  # noqa: E402
from runtime.fakehub.repos import fake_sha  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

SLACK = 1.10


def synthetic(entries: int) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """A catalog of ``entries`` one-file entries and the fake Hub's ``extra_files`` that match it."""
    models, extra = [], {}
    for number in range(entries):
        repo = f"bench-org/model-{number:04d}-GGUF"
        path = f"model-{number:04d}-Q4_K_M.gguf"
        size = 4096 + number
        extra[repo] = {path: size}
        models.append(
            {
                "id": f"bench-{number:04d}",
                "name": f"Bench {number}",
                "description": "A synthetic entry.",
                "repo": repo,
                "recommended_filename": path,
                "size_bytes": size,
                "required_memory_bytes": size * 2,
                "tags": [],
                "capabilities": ["TextGeneration"],
                "format": "gguf",
                "revision": fake_sha(repo),
                "quantization": "Q4_K_M",
                "sha256": file_sha256(repo, path, size),
            }
        )
    return {"models": models}, extra


@contextmanager
def fake_hub(extra: Path | None) -> Iterator[str]:
    """A fake Hub subprocess (``extra``: a JSON file of extra files); yields its URL."""
    port = free_port()
    command = [sys.executable, __file__, "--serve-fake-hub", str(port), str(extra or "")]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/_fake/stats", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the fake Hub did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def timed_verify(catalog: Path, url: str, concurrency: int, entries: int) -> tuple[float, int, int]:
    """Wall time, exit status and fake-Hub API calls of one ``verify --online``."""
    httpx.delete(f"{url}/_fake/stats")
    environ = {"HF_ENDPOINT": url}
    overrides = {"concurrency": concurrency, "budget": 10 * entries + 10}
    sink = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        status = verify.run(catalog, environ=environ, overrides=overrides)
    elapsed = time.perf_counter() - started
    calls = int(httpx.get(f"{url}/_fake/stats").json()["api_calls"])
    return elapsed, status, calls


async def _bare(url: str, repos: list[str], concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(repo: str) -> None:
            async with slots:
                (await client.get(f"/api/models/{repo}", params={"blobs": "true"})).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(repo) for repo in repos))
        return time.perf_counter() - started


def set_latency(url: str, latency: float) -> None:
    httpx.put(f"{url}/_fake/faults", json={"latency": latency} if latency else {}).raise_for_status()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args(argv)
    entries, concurrency, latency = arguments.entries, arguments.concurrency, arguments.latency
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    rows = [["run", "entries", "wall", "requests/entry", "exit", "baseline (bare httpx)"]]
    ok = True
    real = json.loads((ROOT / "supported_models.json").read_text())
    with fake_hub(None) as url:
        wall, status, calls = timed_verify(ROOT / "supported_models.json", url, concurrency, len(real["models"]))
        repos = list(dict.fromkeys(model["repo"] for model in real["models"]))
        base = asyncio.run(_bare(url, repos, concurrency))
        rows.append(
            [
                "real catalog",
                str(len(real["models"])),
                f"{wall:.3f} s",
                f"{calls / len(real['models']):.2f}",
                str(status),
                f"{base:.3f} s",
            ]
        )
        ok &= status == 0
    document, extra = synthetic(entries)
    with tempfile.TemporaryDirectory() as scratch:
        catalog = Path(scratch) / "catalog.json"
        catalog.write_text(json.dumps(document, indent=2) + "\n")
        extra_file = Path(scratch) / "extra.json"
        extra_file.write_text(json.dumps(extra))
        with fake_hub(extra_file) as url:
            wall, status, calls = timed_verify(catalog, url, concurrency, entries)
            base = asyncio.run(_bare(url, list(extra), concurrency))
            per_entry = calls / entries
            rows.append(["synthetic", str(entries), f"{wall:.3f} s", f"{per_entry:.2f}", str(status), f"{base:.3f} s"])
            ok &= status == 0
            set_latency(url, latency)
            slow, slow_status, _ = timed_verify(catalog, url, concurrency, entries)
            slow_base = asyncio.run(_bare(url, list(extra), concurrency))
            set_latency(url, 0)
            rows.append(
                [
                    f"synthetic, latency {latency * 1000:.0f} ms",
                    str(entries),
                    f"{slow:.3f} s",
                    "",
                    str(slow_status),
                    f"{slow_base:.3f} s",
                ]
            )
    print("\n".join(table(rows)))
    goal = entries * latency / concurrency * SLACK
    print(f"\nconcurrency {concurrency}; load average now {os.getloadavg()[0]:.2f}")
    print(f"requests per one-file entry <= 1: {verdict(per_entry <= 1)} ({per_entry:.2f})")
    print(
        f"latency {latency * 1000:.0f} ms: wall <= {entries} x {latency:g} s / {concurrency} + 10 % = {goal:.2f} s: "
        f"{verdict(slow <= goal and slow_status == 0)} ({slow:.2f} s; bare httpx {slow_base:.2f} s)"
    )
    return 0 if ok and per_entry <= 1 and slow <= goal else 1


def _serve(port: str, extra: str) -> None:
    import uvicorn

    from runtime.fakehub import create_fake_hub

    files = json.loads(Path(extra).read_text()) if extra else None
    uvicorn.run(
        create_fake_hub(extra_files=files), host="127.0.0.1", port=int(port), log_level="warning", access_log=False
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-fake-hub":
        _serve(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(main())
