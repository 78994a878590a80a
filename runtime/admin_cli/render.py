"""What the operator CLI prints: tables (rich on a terminal, plain aligned columns otherwise) and sizes."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from msgspec import UNSET

if TYPE_CHECKING:
    from collections.abc import Sequence

    from generated.types import HubItem, ModelDetail, Node, NodeCounts, NodeDetail, NodeMetrics


def size(count: float) -> str:
    """``count`` bytes for people: ``446.0 MiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop always returns


def duration(seconds: float) -> str:
    """``seconds`` for people: ``5 min 24 s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def percent(value: float | None) -> str:
    """A 0..1 fraction as ``5.8 %``; ``-`` when unknown."""
    return "-" if value is None else f"{value * 100:.1f} %"


def counts(node_counts: NodeCounts) -> str:
    """The non-zero node counts: ``1 downloading, 2 ready``; ``-`` when none."""
    parts = [
        f"{number} {name}"
        for name, number in (
            ("pending", node_counts.pending),
            ("downloading", node_counts.downloading),
            ("ready", node_counts.ready),
            ("failed", node_counts.failed),
            ("stalled", node_counts.stalled),
            ("offline", node_counts.offline),
        )
        if number
    ]
    return ", ".join(parts) or "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None) -> None:
    """Print a table: rich on a terminal, plain columns separated by two spaces otherwise (for grep and awk)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(*headers, title=title, title_justify="left")
        for row in rows:
            rich_table.add_row(*row)
        Console().print(rich_table)
        return
    if title:
        print(title)
    widths = [max([len(header), *(len(row[index]) for row in rows)]) for index, header in enumerate(headers)]
    for line in [list(headers), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def fields(pairs: Sequence[tuple[str, str]]) -> None:
    """Print ``name: value`` lines, the names aligned."""
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        print(f"{name + ':':<{width + 1}} {value}")


def _bytes(done: int, total: int) -> str:
    return "-" if not total else f"{size(done)} / {size(total)}"


def _opt(value: object) -> str:
    return "-" if value is None or value is UNSET else str(value)


def hub_table(items: Sequence[HubItem]) -> None:
    """``models list``."""
    table(
        ["ID", "NAME", "STATUS", "PROGRESS", "BYTES", "NODES"],
        [
            [
                item.id,
                item.name,
                str(item.status),
                percent(item.progress),
                _bytes(item.bytes_done, item.bytes_total),
                counts(item.node_counts),
            ]
            for item in items
        ],
    )


def model_detail(detail: ModelDetail) -> None:
    """``models show ID``."""
    hf = detail.hf_info
    fields(
        [
            ("id", detail.id),
            ("name", detail.name),
            ("status", str(detail.status)),
            ("progress", percent(detail.progress)),
            ("bytes", _bytes(detail.bytes_done, detail.bytes_total)),
            ("nodes", counts(detail.node_counts)),
            ("downloads", "-" if hf is None else _opt(hf.downloads)),
            ("likes", "-" if hf is None else _opt(hf.likes)),
        ]
    )
    if detail.nodes:
        print()
        table(
            ["NODE", "STATE", "BYTES", "SPEED", "ETA", "STALLED", "ERROR", "UPDATED"],
            [
                [
                    row.runtime_id,
                    str(row.state),
                    _bytes(row.bytes_done, row.bytes_total),
                    "-" if row.bytes_per_second is None else f"{size(row.bytes_per_second)}/s",
                    "-" if row.eta_seconds is None else duration(row.eta_seconds),
                    "yes" if row.stalled else "no",
                    row.error or "-",
                    row.updated_at,
                ]
                for row in detail.nodes
            ],
        )


def _usage(metrics: NodeMetrics) -> str:
    parts = []
    for name, value in (("cpu", metrics.cpu_usage), ("mem", metrics.memory_usage), ("gpu", metrics.gpu_usage)):
        if value is not UNSET:
            parts.append(f"{name} {value * 100:.0f}%")
    return " ".join(parts) or "-"


def nodes_table(nodes: Sequence[Node]) -> None:
    """``nodes list``."""
    table(
        ["ID", "MACHINE", "STATUS", "SYNCED", "METRICS", "LAST HEARTBEAT"],
        [
            [
                node.runtime_id,
                node.machine_name,
                str(node.status),
                "yes" if node.synced else "no",
                _usage(node.metrics) + (" (stale)" if node.metrics_stale else ""),
                _opt(node.last_heartbeat_at),
            ]
            for node in nodes
        ],
    )


def node_detail(node: NodeDetail) -> None:
    """``nodes show ID``."""
    gpu = node.gpu_memory_bytes
    fields(
        [
            ("id", node.runtime_id),
            ("machine", node.machine_name),
            ("status", str(node.status)),
            ("synced", "yes" if node.synced else "no"),
            ("metrics", _usage(node.metrics) + (" (stale)" if node.metrics_stale else "")),
            ("gpu memory", "-" if gpu is None or gpu is UNSET else size(gpu)),
            ("last heartbeat", _opt(node.last_heartbeat_at)),
        ]
    )
    if node.models:
        print()
        table(
            ["MODEL", "STATE", "BYTES", "ERROR", "UPDATED"],
            [
                [
                    row.model_id,
                    str(row.state),
                    _bytes(row.bytes_done, row.bytes_total),
                    row.error or "-",
                    row.updated_at,
                ]
                for row in node.models
            ],
        )
