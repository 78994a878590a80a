"""Benchmark `SqlStore.save_reports`, the heartbeat write-behind path, on a temporary SQLite file.

One batch is 100 nodes x 10 models (100 node rows + 1,000 node_model rows), written as the flush
would write it: one transaction. The first batch inserts; each timed batch updates every row with
new timestamps and progress (the steady state). Prints the median of ``--repeat`` batches as
node_model rows per second; the goal is >= 20,000. Run from the repository root::

    .venv/bin/python bench/store_write.py [--nodes 100] [--models 10] [--repeat 5] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from generated.types import NodeModelState, NodeStatus
from runtime.db import NodeModelRecord, NodeRecord
from runtime.db.sql import SqlStore

GOAL = 20_000


def batch(nodes: int, models: int, step: int) -> tuple[list[NodeRecord], list[NodeModelRecord]]:
    now = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=step)
    node_records = [
        NodeRecord(f"node-{n:04d}", f"gpu-{n:04d}", 80 * 2**30, NodeStatus.online, now, now, {"gpu_utilization": 0.5})
        for n in range(nodes)
    ]
    reports = [
        NodeModelRecord(node.runtime_id, f"org/model-{m:03d}", NodeModelState.downloading, step, 2**34, None, now)
        for node in node_records
        for m in range(models)
    ]
    return node_records, reports


async def run(url: str, nodes: int, models: int, repeat: int) -> list[float]:
    store = SqlStore(url)
    await store.open()
    try:
        await store.save_reports(*batch(nodes, models, 0))
        seconds = []
        for step in range(1, repeat + 1):
            node_records, reports = batch(nodes, models, step)
            start = time.perf_counter()
            await store.save_reports(node_records, reports)
            seconds.append(time.perf_counter() - start)
        return seconds
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    print("$", " ".join([Path(sys.executable).name, *sys.argv]))
    with tempfile.TemporaryDirectory() as directory:
        url = args.url or f"sqlite+aiosqlite:///{directory}/bench.db"
        seconds = asyncio.run(run(url, args.nodes, args.models, args.repeat))
    rows = args.nodes * args.models
    median = statistics.median(seconds)
    print(f"database: {url.split(':')[0]}; batch: {args.nodes} nodes + {rows} node_model rows, one transaction")
    print("batches (ms):", ", ".join(f"{s * 1000:.1f}" for s in seconds))
    print(f"median: {median * 1000:.1f} ms per batch = {rows / median:,.0f} node_model rows/s (goal >= {GOAL:,})")


if __name__ == "__main__":
    main()
