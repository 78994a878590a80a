"""Benchmark compression: the gzipped hub against the identity hub, and the dashboard's first load on the wire.

One server (the same launcher as bench/runtime_http.py: ``create_app`` under uvicorn with uvloop and
httptools, pinned to the first CPU, wrk on the second), the real catalog with 3 models registered
and 3 nodes reporting. Rounds alternate ``GET /v0/models/hub`` with ``Accept-Encoding: gzip`` and
without it (wrk ``-t1 -c64``); the ratio is the median of the per-round ratios, so drift in machine
load hits both sides alike. The bytes on the wire are each answer's body as sent.

The dashboard's first load: ``/`` and every script and stylesheet it references, then the API calls
the first view makes (``POST /v0/session`` and the hub), each fetched with ``Accept-Encoding: gzip``
as a browser sends it; the sum of the bodies as sent, against the same without compression.

Goals (issue 15): gzipped hub throughput >= 0.9x the identity hub's; first dashboard load <= 100 kB.

Run from the repository root (the dashboard must be built: ``just ui-build``)::

    .venv/bin/python bench/compression.py [--rounds 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

import runtime_http  # noqa: E402
from _measure import median, table, verdict  # noqa: E402

RATIO_GOAL = 0.9
FIRST_LOAD_GOAL = 100_000


def wire_bytes(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """The body size as sent (before decoding) and the Content-Encoding of one answer."""
    with client.stream(method, path, headers=headers) as response:
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path}: {response.status_code}")
        size = sum(len(chunk) for chunk in response.iter_raw())
        return size, response.headers.get("content-encoding", "identity")


def first_load(client: httpx.Client, encoding: str) -> list[tuple[str, int, str]]:
    """(path, bytes on the wire, encoding) of everything the dashboard's first view fetches."""
    accept = {"Accept-Encoding": encoding}
    page = client.get("/", headers={"Accept-Encoding": "identity"}).text
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
    if not assets:
        raise SystemExit("the dashboard page references no assets: run `just ui-build`")
    token = {"Authorization": f"Bearer {runtime_http.READ_TOKEN}"}
    calls = [("GET", "/", accept), *(("GET", path, accept) for path in assets)]
    calls += [("POST", "/v0/session", {**accept, **token}), ("GET", "/v0/models/hub", {**accept, **token})]
    return [(path, *wire_bytes(client, method, path, headers)) for method, path, headers in calls]


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    arguments = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0] if len(cpus) >= 2 else None
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[1]})
    load = os.getloadavg()
    read = ["-H", f"Authorization: Bearer {runtime_http.READ_TOKEN}"]
    gzip_header = ["-H", "Accept-Encoding: gzip"]
    with tempfile.TemporaryDirectory(prefix="compression-bench-") as temporary:
        scratch = Path(temporary)
        with runtime_http.running(scratch, server_cpu) as server, httpx.Client(base_url=server.base) as client:
            runtime_http.setup_hub(client)
            hub = f"{server.base}/v0/models/hub"
            token = {"Authorization": f"Bearer {runtime_http.READ_TOKEN}"}
            plain_size, _ = wire_bytes(client, "GET", "/v0/models/hub", {**token, "Accept-Encoding": "identity"})
            gzip_size, gzip_encoding = wire_bytes(client, "GET", "/v0/models/hub", {**token, "Accept-Encoding": "gzip"})
            runtime_http.run_wrk(hub, 1, read)
            runtime_http.run_wrk(hub, 1, [*read, *gzip_header])
            identity, gzipped = [], []
            for _ in range(arguments.rounds):
                identity.append(runtime_http.run_wrk(hub, arguments.duration, read, server=server.pid))
                gzipped.append(runtime_http.run_wrk(hub, arguments.duration, [*read, *gzip_header], server=server.pid))
            compressed_load = first_load(client, "gzip")
            plain_load = first_load(client, "identity")
    ratios = [g.rate / i.rate for g, i in zip(gzipped, identity, strict=True)]
    ratio = median(ratios)
    load_bytes = sum(size for _, size, _ in compressed_load)
    plain_bytes = sum(size for _, size, _ in plain_load)
    rows = [["GET /v0/models/hub", "req/s", "p99", "server CPU/req", "body on the wire"]]
    for name, runs, size, encoding in (
        ("identity", identity, plain_size, "identity"),
        ("Accept-Encoding: gzip", gzipped, gzip_size, gzip_encoding),
    ):
        cpu = median([run.cpu_us for run in runs if run.cpu_us is not None] or [0.0])
        rows.append(
            [
                name,
                f"{median([run.rate for run in runs]):.0f}",
                f"{median([run.p99_ms for run in runs]):.2f} ms",
                f"{cpu:.0f} us",
                f"{size:,} B ({encoding})",
            ]
        )
    lines = [
        f"compression benchmark (wrk -t1 -c{runtime_http.CONNECTIONS}, {arguments.rounds} rounds x "
        f"{arguments.duration:g} s, median); load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        *table(rows),
        "  gzip/identity per round: " + ", ".join(f"{r:.2f}" for r in ratios),
        "dashboard first load, bytes on the wire:",
        *(f"  {path:<40} {size:>9,} B  {encoding}" for path, size, encoding in compressed_load),
        f"  total {load_bytes:,} B with gzip, {plain_bytes:,} B without",
        "goals:",
        f"  gzipped hub >= {RATIO_GOAL:g}x the identity hub's throughput: "
        f"{verdict(ratio >= RATIO_GOAL)} ({ratio:.2f}x)",
        f"  first dashboard load <= {FIRST_LOAD_GOAL // 1000} kB: {verdict(load_bytes <= FIRST_LOAD_GOAL)} "
        f"({load_bytes / 1000:.1f} kB)",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
