"""Ask the Hugging Face Hub about repositories, under the rules of the runtime's client.

The same rules as runtime/hf/client.py: ``HF_ENDPOINT`` (default ``https://huggingface.co``), ``HF_TOKEN``
sent as a bearer token and nowhere else, one connection pool, renames (307) followed, and after a 429 a
cooldown from ``Retry-After`` or ``RateLimit: …;t=`` (``runtime.hf.client.retry_after``), shared by every
request in flight. On top: ``HF_HUB_OFFLINE`` (read as huggingface_hub does, ``runtime.settings``) forbids
every call, a request budget caps the calls of one run, and 5xx, timeouts and connection errors are retried
a few times. Answers become ``RepoInfo`` or one of the ``HubError`` classes of ``codegen.errors``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from codegen.errors import EntryNotFound, GatedRepo, HubUnavailable, RepoNotFound, RevisionNotFound
from codegen.repo_info import MalformedInfo, RepoInfo, parse_repo_info
from runtime.hf.client import retry_after
from runtime.settings import hf_hub_offline_value

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

DEFAULT_ENDPOINT = "https://huggingface.co"
_RETRIED = frozenset({408, 500, 502, 503, 504})
_BAD_TOKEN = "Invalid credentials in Authorization header"


@dataclass(frozen=True)
class HubSettings:
    """How to reach the Hub; ``from_env`` reads the HF variables (an empty value counts as unset)."""

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = None
    offline: bool = False
    timeout: float = 10.0
    concurrency: int = 8
    budget: int = 1000
    """Most requests one run may send, retries included."""
    retries: int = 2
    """Extra attempts after a 5xx, a timeout or a connection error."""
    backoff: float = 0.5
    """Seconds before the first retry; doubled at each."""
    max_wait: float = 300.0
    """Longest total 429 cooldown one run accepts before giving up."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: float | int) -> HubSettings:
        """Settings from ``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE``, plus ``overrides``."""
        offline = next((environ[n] for n in ("HF_HUB_OFFLINE", "MODELHUB_HF_HUB_OFFLINE") if environ.get(n)), "")
        return cls(
            endpoint=(environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            token=environ.get("HF_TOKEN") or None,
            offline=hf_hub_offline_value(offline),
            **overrides,  # type: ignore[arg-type]
        )


OFFLINE = "HF_HUB_OFFLINE is set: no Hub calls are made (unset it to ask the Hub)"


class HubClient:
    """Model info and download checks against ``settings.endpoint``; use as ``async with``."""

    def __init__(
        self,
        settings: HubSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """One pool for the run; ``transport``, ``sleep`` and ``clock`` are for tests."""
        if settings.offline:
            raise HubUnavailable(OFFLINE)
        headers = {"user-agent": "modelhub-codegen"}
        if settings.token is not None:
            headers["authorization"] = f"Bearer {settings.token}"
        self.settings = settings
        self.requests = 0
        self.waited = 0.0
        self._sleep, self._clock = sleep, clock
        self._cooldown_until = 0.0
        self._slots = asyncio.Semaphore(settings.concurrency)
        limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency)
        self._http = httpx.AsyncClient(
            base_url=settings.endpoint,
            headers=headers,
            timeout=settings.timeout,
            follow_redirects=True,
            transport=transport,
            limits=limits,
        )

    async def __aenter__(self) -> HubClient:
        """The client itself."""
        return self

    async def __aexit__(self, *_: object) -> None:
        """Close the pool."""
        await self._http.aclose()

    async def model_info(self, repo: str, revision: str | None = None) -> RepoInfo:
        """``GET /api/models/{repo}[/revision/{revision}]?blobs=true``: one request (plus retries)."""
        path = f"/api/models/{repo}" + (f"/revision/{quote(revision, safe='')}" if revision else "")
        response = await self._send("GET", path, params={"blobs": "true"})
        self._raise_for(response, repo, revision)
        try:
            return parse_repo_info(response.content, repo)
        except MalformedInfo as error:
            raise HubUnavailable(f"the Hub answered a malformed body for {repo}: {error}") from None

    async def check_download(self, repo: str, revision: str, path: str) -> None:
        """``HEAD /{repo}/resolve/{revision}/{path}``: raise ``GatedRepo`` (or another answer) unless allowed."""
        url = f"/{repo}/resolve/{quote(revision, safe='')}/{quote(path)}"
        response = await self._send("HEAD", url)
        self._raise_for(response, repo, revision, path)

    def _raise_for(self, response: httpx.Response, repo: str, revision: str | None, path: str | None = None) -> None:
        status = response.status_code
        if status < 300:
            return
        code = response.headers.get("x-error-code", "")
        message = response.headers.get("x-error-message", "")
        if code == "GatedRepo":
            raise GatedRepo(_gated_message(repo, status, anonymous=self.settings.token is None), status=status)
        if code == "RevisionNotFound":
            raise RevisionNotFound(f"revision {revision} does not resolve in {repo}")
        if code == "EntryNotFound":
            raise EntryNotFound(f"{path} is not in {repo} at {revision}")
        if status == 401 and message == _BAD_TOKEN:
            raise HubUnavailable("the Hub refused HF_TOKEN (invalid credentials)")
        if status == 404 or (status == 401 and (code == "RepoNotFound" or self.settings.token is None)):
            hint = "" if self.settings.token else " (or it is private: set HF_TOKEN)"
            raise RepoNotFound(f"repository {repo} not found on the Hub{hint}")
        if status == 429:
            raise HubUnavailable(f"rate limited (HTTP 429) for longer than {self.settings.max_wait:g} s")
        raise HubUnavailable(f"HTTP {status}" + (f": {message}" if message else ""))

    async def _send(self, method: str, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        attempt = 0
        async with self._slots:
            while True:
                await self._cool_down()
                if self.requests >= self.settings.budget:
                    raise HubUnavailable(f"request budget of {self.settings.budget} spent")
                self.requests += 1
                try:
                    response = await self._http.request(method, url, params=params)
                except httpx.HTTPError as error:
                    reason = "timeout" if isinstance(error, httpx.TimeoutException) else _connection(error)
                    if attempt >= self.settings.retries:
                        raise HubUnavailable(f"cannot reach {self.settings.endpoint}: {reason}") from None
                else:
                    if response.status_code == 429:
                        wait = retry_after(response)
                        if self.waited + wait > self.settings.max_wait:
                            return response
                        self.waited += wait
                        self._cooldown_until = max(self._cooldown_until, self._clock() + wait)
                        continue
                    if response.status_code not in _RETRIED or attempt >= self.settings.retries:
                        return response
                await self._sleep(self.settings.backoff * 2**attempt)
                attempt += 1

    async def _cool_down(self) -> None:
        while (left := self._cooldown_until - self._clock()) > 0:
            await self._sleep(left)


def _connection(error: httpx.HTTPError) -> str:
    return f"connection error ({type(error).__name__}{': ' + str(error) if str(error) else ''})"


def _gated_message(repo: str, status: int, *, anonymous: bool) -> str:
    page = f"https://huggingface.co/{repo}"
    if anonymous or status == 401:
        return f"{repo} is gated: ask for access at {page}, then set HF_TOKEN to a token of that account"
    return f"{repo} is gated and HF_TOKEN has no access yet: ask for it at {page}"
