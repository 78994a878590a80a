"""What one replica tells the others about the state it changed (several replicas on one PostgreSQL).

Every replica keeps the whole state in memory and answers from it; PostgreSQL is the truth they
share. A replica that changes something tells the others with a `StateUpdate`, sent on the
database's NOTIFY channel (``runtime/db/feed.py`` listens):

* a command (register, unregister, add, approve or delete a node) sends its update in the same
  transaction as its write (``Store`` methods take ``note=``): the others learn of it exactly when it
  is committed, never of a write that rolled back;
* heartbeats and the leader's timers change nodes and reports all the time; those are marked in an
  `Outbox` and sent in batches (``LifecycleService.announce``, every ``MODELHUB_REPLICA_SYNC_INTERVAL``
  for a change of meaning, every ``progress_interval`` for byte counts and metrics alone), so a
  heartbeat costs no database round trip of its own.

Receivers apply an update as if the command had run locally, but publish no event: the replica
that made the change published it (once, with one seq order through Redis). A node or report
update never creates a node (only ``added_nodes`` does) and an older record never replaces a newer
one, so an update that crosses a deletion, or arrives late, cannot bring anything back. A replica
whose listening connection dropped may have missed updates: it reloads the database (a resync).

A NOTIFY payload is at most 8,000 bytes; `pack` splits a batch into updates below that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from runtime.db import NodeModelRecord, NodeRecord, RegistrationRecord  # noqa: TC001 - msgspec reads the fields at run time

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["NOTE_LIMIT", "HeldEvents", "NodeState", "Outbox", "ReportState", "StateUpdate", "decode", "encode", "pack"]

NOTE_LIMIT = 7900
"""Bytes per message: PostgreSQL's NOTIFY payload limit (8,000) with room to spare."""

Pair = tuple[str, str]


class NodeState(msgspec.Struct, array_like=True, frozen=True):
    """A node as the sender holds it, with whether its metrics are stale."""

    record: NodeRecord
    stale: bool


class ReportState(msgspec.Struct, array_like=True, frozen=True):
    """A node's report on a model, with whether the download is stalled (None: the receiver keeps its own)."""

    record: NodeModelRecord
    stalled: bool | None


class StateUpdate(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """One replica's changes, in the order a receiver applies them (top to bottom)."""

    origin: str
    """The sender's ``MODELHUB_REPLICA_ID``: a replica ignores its own updates."""
    registered: tuple[RegistrationRecord, ...] = ()
    unregistered: tuple[str, ...] = ()
    added_nodes: tuple[NodeState, ...] = ()
    """Nodes created (or, for a node the receiver knows, re-registered with new details)."""
    deleted_nodes: tuple[str, ...] = ()
    nodes: tuple[NodeState, ...] = ()
    """Nodes the receiver knows that changed (never creates one)."""
    reports: tuple[ReportState, ...] = ()
    hf_stats: bool = False
    """Hugging Face stats were saved: reload them from the database."""


class _Packed(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A `StateUpdate` of pre-encoded nodes and reports (the same JSON)."""

    origin: str
    nodes: list[msgspec.Raw] = msgspec.field(default_factory=list)
    reports: list[msgspec.Raw] = msgspec.field(default_factory=list)


_decoder = msgspec.json.Decoder(StateUpdate)
_encoder = msgspec.json.Encoder()


def encode(update: StateUpdate) -> str:
    """An update as NOTIFY payload text (JSON)."""
    return _encoder.encode(update).decode()


def decode(payload: str) -> StateUpdate:
    """An update from NOTIFY payload text.

    Raises:
        msgspec.ValidationError, msgspec.DecodeError: The payload is not an update of this release.
    """
    return _decoder.decode(payload)


def pack(origin: str, nodes: list[NodeState], reports: list[ReportState], limit: int = NOTE_LIMIT) -> list[str]:
    """Nodes, then reports, as few updates as fit in ``limit`` bytes each (in order: nodes come first)."""
    notes: list[str] = []
    current = _Packed(origin=origin)
    size = len(origin) + 40
    for field, items in (("nodes", nodes), ("reports", reports)):
        for item in items:
            raw = msgspec.Raw(_encoder.encode(item))
            if size + len(raw) + 1 > limit and (current.nodes or current.reports):
                notes.append(_encoder.encode(current).decode())
                current, size = _Packed(origin=origin), len(origin) + 40
            getattr(current, field).append(raw)
            size += len(raw) + 1
    if current.nodes or current.reports:
        notes.append(_encoder.encode(current).decode())
    return notes


class Outbox:
    """Nodes and reports changed by heartbeats and timers since they were last announced.

    Two kinds, as in the write-behind: a change of meaning (a state, a status, a stall) and progress
    only (``bytes_done``, a heartbeat's time and metrics), which is announced less often.
    """

    def __init__(self) -> None:
        self._nodes: set[str] = set()
        self._reports: set[Pair] = set()  # runtime id, model id
        self._progress_nodes: set[str] = set()
        self._progress_reports: set[Pair] = set()

    def node(self, runtime_id: str, *, progress_only: bool = False) -> None:
        """A node changed."""
        (self._progress_nodes if progress_only else self._nodes).add(runtime_id)

    def report(self, runtime_id: str, model_id: str, *, progress_only: bool = False) -> None:
        """A node's report on a model changed."""
        (self._progress_reports if progress_only else self._reports).add((runtime_id, model_id))

    def drop_node(self, runtime_id: str) -> None:
        """A node was deleted: nothing of it is left to announce."""
        self._nodes.discard(runtime_id)
        self._progress_nodes.discard(runtime_id)
        self._reports = {key for key in self._reports if key[0] != runtime_id}
        self._progress_reports = {key for key in self._progress_reports if key[0] != runtime_id}

    def drop_model(self, model_id: str) -> None:
        """A registration was deleted: none of its reports are left to announce."""
        self._reports = {key for key in self._reports if key[1] != model_id}
        self._progress_reports = {key for key in self._progress_reports if key[1] != model_id}

    def take(self, *, with_progress: bool) -> tuple[set[str], set[Pair]]:
        """What to announce now: changes of meaning, and progress too when ``with_progress``."""
        nodes, reports = self._nodes, self._reports
        self._nodes, self._reports = set(), set()
        if with_progress:
            nodes |= self._progress_nodes
            reports |= self._progress_reports
            self._progress_nodes, self._progress_reports = set(), set()
        else:
            self._progress_nodes -= nodes
            self._progress_reports -= reports
        return nodes, reports

    def put_back(self, nodes: set[str], reports: set[Pair]) -> None:
        """Announcing failed (the database is away): try again next time."""
        self._nodes |= nodes
        self._reports |= reports

    def changes_of_meaning(self) -> bool:
        """Whether a change of meaning waits (progress alone catches up with the next progress event)."""
        return bool(self._nodes or self._reports)

    def __bool__(self) -> bool:
        return bool(self._nodes or self._reports or self._progress_nodes or self._progress_reports)


class HeldEvents:
    """Events that wait until the state they show has been announced to the other replicas.

    A client that subscribes on replica B gets B's snapshot tagged with the last seq B has seen,
    and then only later events. Were A's event for a heartbeat to reach B (through Redis) before
    A's announcement of that heartbeat (through PostgreSQL), B's snapshot would claim the event
    and lack its state, and the client would never see it. So events leave A only after the
    announcement that precedes them (``release`` after each ``LifecycleService.announce``); they
    wait at most one ``MODELHUB_REPLICA_SYNC_INTERVAL``. An event with nothing unannounced before it
    (a command's: its note went out with its commit) goes at once.
    """

    def __init__(self, publish: Callable[[bytes], None], unannounced: Callable[[], bool]) -> None:
        """Publish through ``publish``; ``unannounced()`` says whether changes wait to be announced."""
        self._publish = publish
        self._unannounced = unannounced
        self._held: list[bytes] = []

    def publish(self, message: bytes) -> None:
        """Publish ``message`` now if nothing waits to be announced (nor is held before it), else hold it."""
        if not self._held and not self._unannounced():
            self._publish(message)
        else:
            self._held.append(message)

    def release(self) -> None:
        """Publish everything held, in order."""
        held, self._held = self._held, []
        for message in held:
            self._publish(message)
