"""``models register ID --wait``: follow one model over the WebSocket until it is ready or has failed everywhere.

The connection subscribes to ``model:<id>``; its ``Snapshot`` (the model detail with every node's row)
sets the state, then ``NodeModelChanged`` updates one node's row and ``ModelStatusChanged`` the
aggregates. The verdict is taken on the aggregates: ``ready`` ends the wait (exit 0); node counts with
failed nodes and none pending, downloading or ready mean every node reporting it failed (exit 1). A lost
connection is opened again and resumes with ``since`` (the server replays, or resynchronises with fresh
snapshots); after ``RECONNECT_GIVE_UP`` seconds without a connection the wait ends with exit 3.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from generated.types import ModelDetail, ModelStatus, ModelStatusChanged, NodeCounts, NodeModelChanged
from runtime.admin_cli.client import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, CliError
from runtime.admin_cli.render import counts, duration, percent, size
from runtime.agent.wire import LenientDecoder

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PLAIN_INTERVAL = 5.0
"""Seconds between progress lines when stdout is not a terminal (a change of status or node counts prints at once)."""
RECONNECT_GIVE_UP = 30.0
"""Seconds without a WebSocket connection after which the wait ends (exit 3)."""

_DETAIL = LenientDecoder(ModelDetail)
_STATUS = LenientDecoder(ModelStatusChanged)
_ROW = LenientDecoder(NodeModelChanged)


@dataclass
class Row:
    """One node's report on the model."""

    state: str
    bytes_done: int
    bytes_total: int
    bytes_per_second: float | None
    eta_seconds: float | None
    error: str | None


@dataclass
class ModelState:
    """What the client knows of the model: the aggregates and every node's row."""

    model_id: str
    status: str = "registered"
    progress: float | None = None
    node_counts: NodeCounts = field(default_factory=lambda: NodeCounts(0, 0, 0, 0, 0, 0))
    bytes_done: int = 0
    bytes_total: int = 0
    rows: dict[str, Row] = field(default_factory=dict)
    known: bool = False

    def apply_snapshot(self, detail: ModelDetail) -> None:
        """Replace everything with a snapshot."""
        self._aggregates(detail.status, detail.progress, detail.node_counts, detail.bytes_done, detail.bytes_total)
        self.rows = {
            row.runtime_id: Row(
                str(row.state), row.bytes_done, row.bytes_total, row.bytes_per_second, row.eta_seconds, row.error
            )
            for row in detail.nodes
        }
        self.known = True

    def apply_status(self, event: ModelStatusChanged) -> None:
        """A ``ModelStatusChanged``."""
        self._aggregates(event.status, event.progress, event.node_counts, event.bytes_done, event.bytes_total)
        self.known = True

    def apply_row(self, event: NodeModelChanged) -> None:
        """A ``NodeModelChanged``: one node's row changed, or went away (``state: null``)."""
        if event.state is None:
            self.rows.pop(event.runtime_id, None)
            return
        self.rows[event.runtime_id] = Row(
            str(event.state),
            event.bytes_done,
            event.bytes_total,
            event.bytes_per_second,
            event.eta_seconds,
            event.error,
        )

    def _aggregates(
        self, status: ModelStatus, progress: float | None, node_counts: NodeCounts, done: int, total: int
    ) -> None:
        self.status = str(status)
        self.progress = progress
        self.node_counts = node_counts
        self.bytes_done = done
        self.bytes_total = total

    def failed_everywhere(self) -> bool:
        """Every node reporting the model (offline ones aside) failed."""
        c = self.node_counts
        return c.failed > 0 and c.pending == 0 and c.downloading == 0 and c.ready == 0

    def errors(self) -> str:
        """The failed nodes' reasons: ``n1: checksum mismatch; n2: …``."""
        failed = [
            f"{node}: {row.error or 'no reason given'}" for node, row in self.rows.items() if row.state == "failed"
        ]
        return "; ".join(failed) or "no reason given"

    def speed(self) -> float | None:
        """Summed download rate of the downloading nodes, when the server knows one."""
        rates = [r.bytes_per_second for r in self.rows.values() if r.state == "downloading" and r.bytes_per_second]
        return sum(rates) if rates else None

    def eta(self) -> float | None:
        """Seconds until the slowest downloading node is done, when known."""
        etas = [r.eta_seconds for r in self.rows.values() if r.state == "downloading" and r.eta_seconds is not None]
        return max(etas) if etas else None

    def fraction(self) -> float | None:
        """Progress 0..1: the server's, or the bytes summed over the rows."""
        if self.progress is not None:
            return self.progress
        total = sum(r.bytes_total for r in self.rows.values())
        return sum(r.bytes_done for r in self.rows.values()) / total if total else None

    def line(self) -> str:
        """One progress line.

        ``qwen3-8b: downloading 446.0 MiB of 7.5 GiB (5.8 %), 22.3 MiB/s, ETA 5 min 24 s; nodes: 1 downloading``
        """
        parts = [f"{self.model_id}: {self.status}"]
        if self.bytes_total:
            parts.append(f" {size(self.bytes_done)} of {size(self.bytes_total)} ({percent(self.fraction())})")
        speed, eta = self.speed(), self.eta()
        if speed is not None:
            parts.append(f", {size(speed)}/s")
        if eta is not None:
            parts.append(f", ETA {duration(eta)}")
        parts.append(f"; nodes: {counts(self.node_counts)}")
        return "".join(parts)


def websocket_url(server: str) -> str:
    """``http://host:port`` → ``ws://host:port/ws`` (``https`` → ``wss``)."""
    base = server.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/ws"
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + "/ws"
    return base + "/ws"


class Display:
    """A rich progress bar on a terminal, plain lines every ``PLAIN_INTERVAL`` s otherwise, nothing with ``--json``."""

    def __init__(self, model_id: str, *, quiet: bool) -> None:
        """Prepare the display for ``model_id``."""
        self.model_id = model_id
        self.quiet = quiet
        self.tty = sys.stdout.isatty() and not quiet
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = 0.0
        self._last_key: tuple[str, NodeCounts] | None = None
        self._last_text = ""

    def __enter__(self) -> Display:
        """Start the progress bar (on a terminal)."""
        if self.tty:
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[bytes]}"),
                TextColumn("{task.fields[speed]}"),
                TextColumn("{task.fields[eta]}"),
                TextColumn("{task.fields[nodes]}"),
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.model_id, total=None, bytes="", speed="", eta="", nodes="waiting for the server"
            )
        return self

    def __exit__(self, *_: object) -> None:
        """Stop the progress bar, leaving its last state on screen."""
        if self._progress is not None:
            self._progress.stop()

    def update(self, state: ModelState, *, force: bool = False) -> None:
        """Show ``state``: the bar is redrawn; a plain line goes out on a change or every ``PLAIN_INTERVAL`` s."""
        if self.quiet or not state.known:
            return
        if self._progress is not None and self._task is not None:
            fraction = state.fraction()
            speed, eta = state.speed(), state.eta()
            self._progress.update(
                self._task,
                description=f"{self.model_id} {state.status}",
                total=1.0 if fraction is not None or state.status == "ready" else None,
                completed=1.0 if state.status == "ready" else (fraction or 0.0),
                bytes=f"{size(state.bytes_done)} / {size(state.bytes_total)}" if state.bytes_total else "",
                speed="" if speed is None else f"{size(speed)}/s",
                eta="" if eta is None else f"ETA {duration(eta)}",
                nodes=f"nodes: {counts(state.node_counts)}",
            )
            return
        key = (state.status, state.node_counts)
        now = time.monotonic()
        text = state.line()
        if force and text == self._last_text:
            return
        if force or key != self._last_key or now - self._last_line >= PLAIN_INTERVAL:
            print(text, flush=True)
            self._last_key, self._last_line, self._last_text = key, now, text


async def follow(server: str, token: str | None, model_id: str, *, quiet: bool) -> tuple[int, ModelState]:
    """Wait until ``model_id`` is ready (exit 0) or failed on every node reporting it (exit 1).

    Raises:
        CliError: The token was refused (exit 4), or the server could not be reached for ``RECONNECT_GIVE_UP`` s (3).
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

    state = ModelState(model_id)
    since: int | None = None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = websocket_url(server)
    lost_since: float | None = None
    backoff = 0.2
    with Display(model_id, quiet=quiet) as display:
        while True:
            try:
                async with connect(url, additional_headers=headers, open_timeout=5, max_size=2**22) as socket:
                    lost_since, backoff = None, 0.2
                    subscribe: dict[str, Any] = {"op": "subscribe", "topics": [f"model:{model_id}"]}
                    if since is not None:
                        subscribe["since"] = since
                    await socket.send(msgspec.json.encode(subscribe).decode())
                    while True:
                        try:
                            raw = await asyncio.wait_for(socket.recv(), timeout=1.0)
                        except TimeoutError:
                            display.update(state)
                            continue
                        frame = msgspec.json.decode(raw)
                        if not isinstance(frame, dict):
                            continue
                        since = _seq(frame, since)
                        verdict = _apply(state, frame)
                        display.update(state)
                        if verdict is not None:
                            display.update(state, force=True)
                            return verdict, state
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                if code in (4401, 4403):
                    reason = closed.rcvd.reason if closed.rcvd is not None else ""
                    raise CliError(f"the WebSocket refused the token: {reason or code}", EXIT_REFUSED) from None
            except InvalidStatus as refused:
                if refused.response.status_code in (401, 403):
                    raise CliError("the WebSocket refused the token", EXIT_REFUSED) from None
            except (OSError, InvalidHandshake, TimeoutError):
                pass
            now = time.monotonic()
            if lost_since is None:
                lost_since = now
                print(f"modelhub: lost the connection to {url}; reconnecting", file=sys.stderr, flush=True)
            elif now - lost_since > RECONNECT_GIVE_UP:
                raise CliError(f"cannot reach the server at {server} (WebSocket {url})", EXIT_UNREACHABLE)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


def _seq(frame: dict[str, Any], since: int | None) -> int | None:
    seq = frame.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and (since is None or seq > since):
        return seq
    return since


def _apply(state: ModelState, frame: dict[str, Any]) -> int | None:
    """Apply one server frame; the exit status once the wait is over, else ``None``."""
    kind = frame.get("type")
    try:
        if kind == "Snapshot":
            items = frame.get("items") or []
            if items:
                state.apply_snapshot(_DETAIL.decode(msgspec.json.encode(items[0])))
        elif kind == "ModelStatusChanged" and frame.get("model_id") == state.model_id:
            state.apply_status(_STATUS.decode(msgspec.json.encode(frame)))
        elif kind == "NodeModelChanged" and frame.get("model_id") == state.model_id:
            state.apply_row(_ROW.decode(msgspec.json.encode(frame)))
            return None
        elif kind == "Error":
            raise CliError(f"the server refused the subscription: {frame.get('message')}", EXIT_FAILED)
        else:
            return None
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise CliError(f"unexpected {kind} frame from the server: {error}", EXIT_FAILED) from None
    if not state.known:
        return None
    if state.status == "ready":
        return EXIT_OK
    if state.status == "available":
        raise CliError(f"{state.model_id} was deleted while waiting", EXIT_FAILED)
    if state.failed_everywhere():
        return EXIT_FAILED
    return None
