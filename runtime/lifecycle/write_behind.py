"""Heartbeat reports written behind: marked dirty as they arrive, stored in batches.

Each report is superseded by the next one a few seconds later, and a node re-reports everything on
its next heartbeat after a restart, so a report need not be durable before it is acknowledged;
registrations, approvals and deletions are (the lifecycle service writes them at once, under
``lock``, so a batch never interleaves with them).

Two kinds of dirt. A change of what a row *means* — a new report, another state, total or error, a
node's status — is written by the next ``flush`` (every ``MODELHUB_HEARTBEAT_FLUSH_INTERVAL``). A
change of progress only — ``bytes_done`` growing, a node's heartbeat time and metrics — is written
at most every ``checkpoint`` seconds: with 1,000 nodes downloading 10 models, rewriting all 10,000
rows every second cost more CPU than the heartbeats themselves (bench/runtime_http.py), and a
restart loses at most ``checkpoint`` seconds of byte counts that the nodes re-report at once.
``flush(everything=True)`` (at shutdown) writes both.

A batch the database refuses while it answers ``ping`` is stored row by row, and only the rows it
refuses for what they hold are dropped, with an error in the log: one bad row never blocks every
node's reports. A database that does not answer (at the batch, or at any row of the row-by-row
pass: it may go away between the two) keeps every row not yet stored dirty for the next flush.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from runtime.db import NodeModelRecord, NodeRecord
from runtime.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from runtime.db import Store

__all__ = ["WriteBehind"]

logger = logging.getLogger(__name__)


class WriteBehind:
    """The nodes and (node, model) reports changed since they were last stored."""

    def __init__(
        self, store: Store, *, checkpoint: float = 10.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """Write to ``store``; progress-only changes at most every ``checkpoint`` seconds."""
        self.store = store
        self.checkpoint = checkpoint
        self.monotonic = monotonic
        self.lock = asyncio.Lock()
        """Held by every store write, batched or not."""
        self._nodes: set[str] = set()
        self._reports: set[tuple[str, str]] = set()  # runtime id, model id
        self._progress_nodes: set[str] = set()
        self._progress_reports: set[tuple[str, str]] = set()
        self._checkpointed = monotonic()

    def node(self, runtime_id: str, *, progress_only: bool = False) -> None:
        """A node's row changed (``progress_only``: just its heartbeat time and metrics)."""
        (self._progress_nodes if progress_only else self._nodes).add(runtime_id)

    def report(self, runtime_id: str, model_id: str, *, progress_only: bool = False) -> None:
        """A node's report on a model changed (``progress_only``: just ``bytes_done``)."""
        (self._progress_reports if progress_only else self._reports).add((runtime_id, model_id))

    def stored_node(self, runtime_id: str) -> None:
        """A node's row was just written directly: nothing of it is pending."""
        self._nodes.discard(runtime_id)
        self._progress_nodes.discard(runtime_id)

    def drop_node(self, runtime_id: str) -> None:
        """A node was deleted: forget its pending row and reports."""
        self.stored_node(runtime_id)
        self._reports = {key for key in self._reports if key[0] != runtime_id}
        self._progress_reports = {key for key in self._progress_reports if key[0] != runtime_id}

    def drop_model(self, model_id: str) -> None:
        """A registration was deleted: forget its pending reports."""
        self._reports = {key for key in self._reports if key[1] != model_id}
        self._progress_reports = {key for key in self._progress_reports if key[1] != model_id}

    async def flush(
        self,
        node: Callable[[str], NodeRecord | None],
        report: Callable[[str, str], NodeModelRecord | None],
        *,
        everything: bool = False,
    ) -> None:
        """Store what changed, as ``node`` and ``report`` give it now, in one transaction.

        Progress-only changes go too when ``everything`` or when the checkpoint is due. On failure
        everything taken is marked dirty again, so the next flush retries it.
        """
        async with self.lock:
            now = self.monotonic()
            with_progress = everything or now - self._checkpointed >= self.checkpoint
            taken_nodes, taken_reports = self._nodes, self._reports
            self._nodes, self._reports = set(), set()
            if with_progress:
                taken_nodes |= self._progress_nodes
                taken_reports |= self._progress_reports
                self._progress_nodes, self._progress_reports = set(), set()
                self._checkpointed = now
            else:
                self._progress_nodes -= taken_nodes
                self._progress_reports -= taken_reports
            nodes = [record for runtime_id in taken_nodes if (record := node(runtime_id)) is not None]
            reports = [row for key in taken_reports if (row := report(*key)) is not None]
            if not nodes and not reports:
                return
            try:
                await self.store.save_reports(nodes, reports)
            except Exception as error:
                if not await self._reachable():
                    self._nodes |= taken_nodes  # the database is away: everything waits for the next flush
                    self._reports |= taken_reports
                    raise
                left = await self._one_by_one(nodes, reports)
                self._nodes |= {record.runtime_id for record in left if isinstance(record, NodeRecord)}
                self._reports |= {
                    (record.runtime_id, record.model_id) for record in left if isinstance(record, NodeModelRecord)
                }
                if left:
                    waiting = len(left)
                    raise DatabaseUnavailable(f"The database went away with {waiting} rows to store.") from error
            except BaseException:
                self._nodes |= taken_nodes
                self._reports |= taken_reports
                raise

    async def _reachable(self) -> bool:
        try:
            await self.store.ping()
        except Exception:
            return False
        return True

    async def _one_by_one(
        self, nodes: list[NodeRecord], reports: list[NodeModelRecord]
    ) -> list[NodeRecord | NodeModelRecord]:
        """The database answers but refused the batch: store each row alone; return the rows still to store.

        One row the database cannot take for what it holds is dropped (and logged): it must never keep
        every other node's reports from being stored. A row refused because the database is away
        (``DatabaseUnavailable``: gone, locked, timed out) is not that row's fault: it and every row
        after it are returned, to stay dirty.
        """
        rows: list[NodeRecord | NodeModelRecord] = [*nodes, *reports]  # nodes first: the reports' foreign key
        for position, row in enumerate(rows):
            try:
                if isinstance(row, NodeRecord):
                    await self.store.save_reports([row], [])
                else:
                    await self.store.save_reports([], [row])
            except DatabaseUnavailable:
                return rows[position:]
            except Exception as error:
                if isinstance(row, NodeRecord):
                    logger.error("could not store node %s (%s); its row is dropped", row.runtime_id, _reason(error))
                else:
                    logger.error(
                        "could not store the report of node %s on %s (%s); it is dropped",
                        row.runtime_id,
                        row.model_id,
                        _reason(error),
                    )
        return []


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
