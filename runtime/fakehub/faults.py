"""Fault injection, switchable at run time, and the request statistics.

The settings (``PUT /_fake/faults``, all optional)::

    {"latency": 0.5,                               # seconds to wait before answering
     "status": 503,                                # answer this error status, Hub-style body
     "rate_limit": {"retry_after": 2, "reset": 2}, # 429 + Retry-After + RateLimit / RateLimit-Policy
     "hang": true,                                 # no answer until the faults change or the client leaves
     "malformed": true,                            # /api/ only: 200 with a truncated JSON body
     "rename": {"from": "org/old", "to": "org/new"},  # 307 to the new id, which is then served
     "corrupt": {"offset": 1234},                  # resolve only: that byte of a file is sent flipped
     "routes": "api",                              # where the others act: "api" (default), "resolve" or "all"
     "repos": ["org/name"],                        # only requests for these repos (any case); absent = all
     "drift": [{"repo": "org/name", ...}],         # upstream changes (see ``Drift``); ignore routes/repos
     "denied_tokens": ["hf_x"]}                    # tokens a gated repo has not approved: 403 GatedRepo

Per request, in this order: latency, hang, then the first of rename, rate_limit, status; then malformed or
corrupt. Faults never touch ``/_fake/``. Every fake-Hub request is counted, faulted or not, and the last
``Authorization`` header is kept for tests to assert on; it is never logged.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from msgspec import Meta

from runtime.fakehub.payloads import Fixed, rate_limited, redirect, server_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

ROUTE_KIND = "fakehub"
"""The handler option naming a route's kind: ``"api"`` or ``"resolve"`` (control routes have none)."""


class RateLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``rate_limit``: answer 429, retry after ``retry_after`` s; the window resets in ``reset`` s."""

    retry_after: Annotated[int, Meta(ge=0)] = 1
    reset: Annotated[int, Meta(ge=0)] | None = None


class Rename(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``rename``: the repo ``from`` is now ``to``."""

    source: str = msgspec.field(name="from")
    target: str = msgspec.field(name="to")


class Corrupt(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``corrupt``: flip the byte at ``offset`` of every file served."""

    offset: Annotated[int, Meta(ge=0)]


class Drift(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """``drift``: what changed upstream in ``repo`` since the catalog was written.

    ``file`` names the file that ``size``, ``sha256`` and ``renamed_to`` change; ``deleted`` makes the repo
    answer like one that does not exist; ``gated`` makes it gated; ``commit`` moves ``main`` to that commit and
    ``forget_revisions`` makes every other commit id unknown (404 ``RevisionNotFound``), as after a force-push.
    """

    repo: str
    file: str | None = None
    size: Annotated[int, Meta(ge=0)] | None = None
    sha256: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")] | None = None
    renamed_to: str | None = None
    deleted: bool = False
    gated: Literal["auto", "manual"] | None = None
    commit: Annotated[str, Meta(pattern="^[0-9a-f]{40}$")] | None = None
    forget_revisions: bool = False


class Faults(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The fault settings; the defaults inject nothing."""

    latency: Annotated[float, Meta(ge=0)] = 0.0
    status: Annotated[int, Meta(ge=400, le=599)] | None = None
    rate_limit: RateLimit | None = None
    hang: bool = False
    malformed: bool = False
    rename: Rename | None = None
    corrupt: Corrupt | None = None
    routes: Literal["api", "resolve", "all"] = "api"
    repos: tuple[str, ...] | None = None
    drift: tuple[Drift, ...] = ()
    denied_tokens: tuple[str, ...] = ()

    def drifts(self, repo: str) -> list[Drift]:
        """The drift settings of ``repo`` (any case), in order."""
        return [drift for drift in self.drift if drift.repo.casefold() == repo.casefold()]

    def reaches(self, repo: str) -> bool:
        """Whether ``repo`` is one the faults are limited to (or they are not limited)."""
        return self.repos is None or repo.casefold() in {name.casefold() for name in self.repos}

    def covers(self, kind: str, repo: str) -> bool:
        """Whether latency, hang, rename, rate_limit and status act on this request."""
        return self.routes in ("all", kind) and self.reaches(repo)

    def renames(self, kind: str, repo: str) -> Rename | None:
        """The rename that redirects this request, if any."""
        rename = self.rename
        if rename is None or not self.covers(kind, repo) or rename.source.casefold() != repo.casefold():
            return None
        return rename

    def corrupt_offset(self, repo: str) -> int | None:
        """The offset to flip in files of ``repo``, if any."""
        return self.corrupt.offset if self.corrupt is not None and self.reaches(repo) else None


class Stats:
    """Request counts since start or the last reset."""

    def __init__(self) -> None:
        """Start from zero."""
        self.reset()

    def reset(self) -> None:
        """Forget every count and the last Authorization header."""
        self.requests: Counter[str] = Counter()
        self.api_calls = 0
        self.resolve_calls = 0
        self.last_authorization: str | None = None

    def record(self, kind: str, path: str, authorization: str | None) -> None:
        """Count one request."""
        self.requests[path] += 1
        if kind == "api":
            self.api_calls += 1
        else:
            self.resolve_calls += 1
        if authorization is not None:
            self.last_authorization = authorization

    def as_json(self) -> dict[str, Any]:
        """The ``GET /_fake/stats`` body."""
        return {
            "requests": dict(self.requests),
            "api_calls": self.api_calls,
            "resolve_calls": self.resolve_calls,
            "last_authorization": self.last_authorization,
        }


class FaultControl:
    """The current faults, and the requests hanging until they change."""

    def __init__(self) -> None:
        """No faults."""
        self.faults = Faults()
        self._changed = asyncio.Event()

    def replace(self, faults: Faults) -> None:
        """Switch to ``faults`` and let every hanging request go on (under the new faults)."""
        self.faults = faults
        self._changed.set()
        self._changed = asyncio.Event()

    async def hold(self, receive: Receive) -> Receive | None:
        """Wait until the faults change; None if the client left first, else a ``receive`` to go on with."""
        buffered: list[ReceiveMessage] = []

        async def until_disconnect() -> None:
            while (message := await receive())["type"] != "http.disconnect":
                buffered.append(message)

        left = asyncio.ensure_future(until_disconnect())
        changed = asyncio.ensure_future(self._changed.wait())
        done, _ = await asyncio.wait((left, changed), return_when=asyncio.FIRST_COMPLETED)
        left.cancel()
        changed.cancel()
        if changed not in done:
            return None

        async def replay() -> ReceiveMessage:
            return buffered.pop(0) if buffered else await receive()

        return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _location(scope: Scope, kind: str, target: str) -> str:
    """The request's URL with the repo replaced by ``target``, relative like the Hub's."""
    raw = scope.get("raw_path") or quote(scope["path"]).encode()
    parts = raw.decode("latin-1").split("/")
    at = 3 if kind == "api" else 1  # /api/models/{org}/{name}/… or /{org}/{name}/resolve/…
    parts[at : at + 2] = target.split("/", 1)
    query = scope.get("query_string", b"").decode("latin-1")
    return "/".join(parts) + (f"?{query}" if query else "")


async def _truncated(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` and send half of its body with status 200: never valid JSON."""
    body = bytearray()

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, capture)
    await Fixed(bytes(body[: len(body) // 2]) or b"{")(scope, receive, send)


def fault_middleware(control: FaultControl, stats: Stats) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware that counts every fake-Hub request and applies the current faults to it."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def faulted(scope: Scope, receive: Receive, send: Send) -> None:
            kind = scope["route_handler"].opt.get(ROUTE_KIND)
            if kind is None:
                await app(scope, receive, send)
                return
            params = scope["path_params"]
            repo = f"{params['org']}/{params['name']}"
            stats.record(kind, scope["path"], _header(scope, b"authorization"))
            while True:
                faults = control.faults
                if not faults.covers(kind, repo):
                    break
                if faults.latency:
                    await asyncio.sleep(faults.latency)
                if not faults.hang:
                    break
                resumed = await control.hold(receive)
                if resumed is None:
                    return
                receive = resumed
            faults = control.faults
            answer: ASGIApp | None = None
            if rename := faults.renames(kind, repo):
                answer = redirect(_location(scope, kind, rename.target))
            elif faults.covers(kind, repo) and faults.rate_limit is not None:
                limit = faults.rate_limit
                reset = limit.retry_after if limit.reset is None else limit.reset
                bucket = "api" if kind == "api" else "resolvers"
                answer = rate_limited(retry_after=limit.retry_after, reset=reset, bucket=bucket)
            elif faults.covers(kind, repo) and faults.status is not None:
                answer = server_error(faults.status)
            if answer is not None:
                await answer(scope, receive, send)
            elif kind == "api" and faults.malformed and faults.reaches(repo):
                await _truncated(app, scope, receive, send)
            else:
                await app(scope, receive, send)

        return faulted

    return wrap
