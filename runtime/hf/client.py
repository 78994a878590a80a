"""The HTTP side: one ``httpx.AsyncClient`` per process, and what each answer of the Hub means.

Outcomes (never exceptions): ``Found`` stats, ``Missing`` (404, or the anonymous 401 the Hub gives
for a repository that does not exist), ``RateLimited`` with how long to wait, or ``Failed`` with a
reason (timeout, connection error, 5xx, other 4xx, malformed body). Renames (307) are followed.
The token, when set, is sent as a bearer token and appears nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from runtime.hf.parse import HfStats, MalformedPayload, parse_model_info

if TYPE_CHECKING:
    from pydantic import SecretStr

_RESET = re.compile(r"[;\s]t=(\d+)")
DEFAULT_COOLDOWN = 60.0


@dataclass(frozen=True, slots=True)
class Found:
    """The Hub answered with stats."""

    stats: HfStats


@dataclass(frozen=True, slots=True)
class Missing:
    """No such repository (or revision)."""


@dataclass(frozen=True, slots=True)
class RateLimited:
    """429: call again after ``retry_after`` seconds."""

    retry_after: float


@dataclass(frozen=True, slots=True)
class Failed:
    """Anything else; ``reason`` is for logs and health (it never contains the token)."""

    reason: str


Outcome = Found | Missing | RateLimited | Failed


def retry_after(response: httpx.Response) -> float:
    """Seconds to wait after a 429: ``Retry-After`` (seconds form), else ``RateLimit: …;t=``, else a minute."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    match = _RESET.search(";" + response.headers.get("ratelimit", ""))
    return float(match.group(1)) if match else DEFAULT_COOLDOWN


class HfClient:
    """Fetches model info from ``HF_ENDPOINT``."""

    def __init__(
        self,
        endpoint: str,
        *,
        token: SecretStr | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """One connection pool for the process; ``transport`` is for unit tests."""
        headers = {"user-agent": "modelhub"}
        if token is not None:
            headers["authorization"] = f"Bearer {token.get_secret_value()}"
        self.anonymous = token is None
        self._http = httpx.AsyncClient(
            base_url=endpoint.rstrip("/"), headers=headers, timeout=timeout, follow_redirects=True, transport=transport
        )

    async def model_info(self, repo: str, revision: str | None = None) -> Outcome:
        """``GET /api/models/{repo}`` (or ``/revision/{revision}``), as an outcome."""
        path = f"/api/models/{repo}" + (f"/revision/{quote(revision, safe='')}" if revision else "")
        try:
            response = await self._http.get(path)
        except httpx.TimeoutException:
            return Failed("timeout")
        except httpx.HTTPError as error:
            return Failed(f"connection error ({type(error).__name__})")
        status = response.status_code
        if status == 200:
            try:
                return Found(parse_model_info(response.content))
            except MalformedPayload as error:
                return Failed(f"malformed body: {error}")
        if status == 404 or (
            status == 401 and (self.anonymous or response.headers.get("x-error-code") == "RepoNotFound")
        ):
            return Missing()
        if status == 429:
            return RateLimited(retry_after(response))
        return Failed(f"HTTP {status}")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
