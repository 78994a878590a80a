"""HfClient over httpx.MockTransport: the URL, the bearer token, and what each Hub answer becomes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from pydantic import SecretStr

from generated.types import HfGating
from runtime.hf.client import DEFAULT_COOLDOWN, Failed, Found, HfClient, Missing, Outcome, RateLimited
from runtime.hf.parse import HfStats

if TYPE_CHECKING:
    from collections.abc import Callable

    Handler = Callable[[httpx.Request], httpx.Response]

ENDPOINT = "https://hub.test"
TOKEN = "hf_UnitTestSecretToken0123456789abcdef"
REPO = "org/model"
BODY = b'{"id":"org/model","downloads":1234,"likes":56,"lastModified":"2025-01-02T03:04:05.000Z","gated":"manual"}'
STATS = HfStats(1234, 56, "2025-01-02T03:04:05.000Z", HfGating.manual)
JSON = {"content-type": "application/json; charset=utf-8"}
#: Headers of the real anonymous 401 (a huggingface_hub VCR cassette, commit a09927331e, router.huggingface.co).
UNAUTHENTICATED = {
    **JSON,
    "www-authenticate": 'Bearer realm="Authentication required", charset="UTF-8"',
    "x-error-message": "Invalid username or password.",
}


@dataclass(frozen=True)
class FailedStartingWith:
    """Expect ``Failed`` whose reason starts with ``prefix``."""

    prefix: str


async def call(
    handler: Handler,
    *,
    token: str | None = None,
    repo: str = REPO,
    revision: str | None = None,
    endpoint: str = ENDPOINT,
) -> Outcome:
    client = HfClient(
        endpoint,
        token=SecretStr(token) if token is not None else None,
        timeout=5.0,
        transport=httpx.MockTransport(handler),
    )
    try:
        return await client.model_info(repo, revision)
    finally:
        await client.aclose()


def recording(requests: list[httpx.Request], status: int = 200, body: bytes = BODY) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, headers=JSON, content=body)

    return handler


def respond(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body)

    return handler


def echo_token(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Handler:
    """A hostile upstream that puts the request's Authorization header in its body."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body + request.headers.get("authorization", "").encode())

    return handler


def raise_(error: type[httpx.TransportError]) -> Handler:
    """A transport error whose message carries the Authorization header (the client must not repeat it)."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error(f"failed sending {request.headers.get('authorization')}", request=request)

    return handler


def assert_outcome(outcome: Outcome, expected: Outcome | FailedStartingWith) -> None:
    if isinstance(expected, FailedStartingWith):
        assert isinstance(outcome, Failed)
        assert outcome.reason.startswith(expected.prefix), outcome.reason
    else:
        assert outcome == expected


# ---------------------------------------------------------------------------------------- request


@pytest.mark.parametrize(
    ("endpoint", "repo", "revision", "path"),
    [
        (ENDPOINT, REPO, None, "/api/models/org/model"),
        (ENDPOINT + "/", REPO, None, "/api/models/org/model"),
        ("https://mirror.test/hf/", REPO, None, "/hf/api/models/org/model"),
        (ENDPOINT, "meta-llama/Llama-3.1-8B-Instruct", None, "/api/models/meta-llama/Llama-3.1-8B-Instruct"),
        (ENDPOINT, REPO, "main", "/api/models/org/model/revision/main"),
        (
            ENDPOINT,
            REPO,
            "0123456789abcdef0123456789abcdef01234567",
            "/api/models/org/model/revision/0123456789abcdef0123456789abcdef01234567",
        ),
        (ENDPOINT, REPO, "refs/pr/1", "/api/models/org/model/revision/refs%2Fpr%2F1"),
        (ENDPOINT, REPO, "v1.0 beta?#", "/api/models/org/model/revision/v1.0%20beta%3F%23"),
    ],
    ids=["repo", "endpoint-slash", "endpoint-path", "real-repo", "main", "sha", "slash-quoted", "specials-quoted"],
)
async def test_request_url(endpoint: str, repo: str, revision: str | None, path: str) -> None:
    requests: list[httpx.Request] = []
    assert await call(recording(requests), endpoint=endpoint, repo=repo, revision=revision) == Found(STATS)
    [request] = requests
    assert request.method == "GET"
    assert request.url.host == httpx.URL(endpoint).host
    assert request.url.raw_path.decode() == path


@pytest.mark.parametrize(
    ("token", "authorization"), [(None, None), (TOKEN, f"Bearer {TOKEN}")], ids=["anonymous", "token"]
)
async def test_bearer_token_sent_only_when_set(token: str | None, authorization: str | None) -> None:
    requests: list[httpx.Request] = []
    await call(recording(requests), token=token)
    [request] = requests
    assert request.headers.get("authorization") == authorization
    assert request.headers["user-agent"] == "modelhub"


# ---------------------------------------------------------------------------------------- outcomes

OUTCOMES = [
    pytest.param(None, respond(200, JSON, BODY), Found(STATS), id="200"),
    pytest.param(TOKEN, respond(200, JSON, BODY), Found(STATS), id="200-token"),
    pytest.param(
        None, respond(200, JSON, b'{"gated": false}'), Found(HfStats(None, None, None, HfGating.open)), id="200-sparse"
    ),
    pytest.param(
        None,
        respond(404, {**JSON, "x-error-code": "RepoNotFound"}, b'{"error":"Repository not found"}'),
        Missing(),
        id="404",
    ),
    pytest.param(TOKEN, respond(404, {**JSON, "x-error-code": "RevisionNotFound"}), Missing(), id="404-revision"),
    pytest.param(None, respond(404), Missing(), id="404-bare"),
    pytest.param(
        None, respond(401, UNAUTHENTICATED, b'{"error":"Invalid username or password."}'), Missing(), id="401-anonymous"
    ),
    pytest.param(
        TOKEN, respond(401, {**JSON, "x-error-code": "RepoNotFound"}), Missing(), id="401-token-repo-not-found"
    ),
    pytest.param(
        TOKEN,
        respond(401, UNAUTHENTICATED, b'{"error":"Invalid username or password."}'),
        Failed("HTTP 401"),
        id="401-token-no-code",
    ),
    pytest.param(
        TOKEN,
        respond(401, {"x-error-message": "Invalid credentials in Authorization header"}),
        Failed("HTTP 401"),
        id="401-bad-token",
    ),
    pytest.param(None, respond(403, {**JSON, "x-error-code": "GatedRepo"}), Failed("HTTP 403"), id="403"),
    pytest.param(None, respond(400), Failed("HTTP 400"), id="400"),
    pytest.param(None, respond(429, {"retry-after": "30"}), RateLimited(30.0), id="429-retry-after"),
    pytest.param(None, respond(429, {"retry-after": " 30 "}), RateLimited(30.0), id="429-retry-after-spaces"),
    pytest.param(
        None,
        respond(429, {"ratelimit": '"api";r=0;t=55', "ratelimit-policy": '"fixed window";"api";q=500;w=300'}),
        RateLimited(55.0),
        id="429-ratelimit",
    ),
    pytest.param(None, respond(429, {"ratelimit": '"api";r=0; t=55'}), RateLimited(55.0), id="429-ratelimit-space"),
    pytest.param(
        None,
        respond(429, {"retry-after": "30", "ratelimit": '"api";r=0;t=55'}),
        RateLimited(30.0),
        id="429-both-retry-after-wins",
    ),
    pytest.param(
        None,
        respond(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT", "ratelimit": '"api";r=0;t=55'}),
        RateLimited(55.0),
        id="429-http-date-then-ratelimit",
    ),
    pytest.param(
        None,
        respond(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        RateLimited(DEFAULT_COOLDOWN),
        id="429-http-date-only",
    ),
    # The real legacy 429 (errors/inference-api.rate_limited_429.interaction.json) has neither header.
    pytest.param(
        None,
        respond(429, JSON, b'{"error":"Rate limit reached. Please log in or use a HF access token"}'),
        RateLimited(DEFAULT_COOLDOWN),
        id="429-neither",
    ),
    pytest.param(
        None,
        respond(429, {"ratelimit-policy": '"fixed window";"api";q=500;w=300'}),
        RateLimited(DEFAULT_COOLDOWN),
        id="429-policy-only",
    ),
    pytest.param(None, respond(500), Failed("HTTP 500"), id="500"),
    pytest.param(
        None, respond(502, {"content-type": "text/html"}, b"<html>Bad Gateway</html>"), Failed("HTTP 502"), id="502"
    ),
    pytest.param(None, respond(503), Failed("HTTP 503"), id="503"),
    pytest.param(None, respond(504), Failed("HTTP 504"), id="504"),
    pytest.param(
        None, respond(200, JSON, b"<html>not json</html>"), FailedStartingWith("malformed body"), id="200-not-json"
    ),
    pytest.param(None, respond(200, JSON, b"[]"), FailedStartingWith("malformed body"), id="200-array"),
    pytest.param(None, respond(200, JSON, BODY[:40]), FailedStartingWith("malformed body"), id="200-truncated"),
    pytest.param(None, respond(200, JSON, b""), FailedStartingWith("malformed body"), id="200-empty"),
    pytest.param(None, raise_(httpx.ConnectError), FailedStartingWith("connection error"), id="connect-error"),
    pytest.param(None, raise_(httpx.RemoteProtocolError), FailedStartingWith("connection error"), id="protocol-error"),
    pytest.param(None, raise_(httpx.ReadError), FailedStartingWith("connection error"), id="read-error"),
    pytest.param(None, raise_(httpx.ReadTimeout), Failed("timeout"), id="read-timeout"),
    pytest.param(None, raise_(httpx.ConnectTimeout), Failed("timeout"), id="connect-timeout"),
    pytest.param(None, raise_(httpx.PoolTimeout), Failed("timeout"), id="pool-timeout"),
]


@pytest.mark.parametrize(("token", "handler", "expected"), OUTCOMES)
async def test_outcome(token: str | None, handler: Handler, expected: Outcome | FailedStartingWith) -> None:
    assert_outcome(await call(handler, token=token), expected)


async def test_invalid_utf8_body_is_a_failed_outcome() -> None:
    assert_outcome(await call(respond(200, JSON, b'{"id": "\xff"}')), FailedStartingWith("malformed body"))


async def test_renamed_repo_307_is_followed() -> None:
    # As recorded in errors/meta-llama__Meta-Llama-3.1-8B-Instruct.redirect_307.interaction.json.
    old, new = "/api/models/meta-llama/Meta-Llama-3.1-8B-Instruct", "/api/models/meta-llama/Llama-3.1-8B-Instruct"
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == old:
            return httpx.Response(
                307,
                headers={"location": new, "content-type": "text/plain; charset=utf-8"},
                content=f"Temporary Redirect. Redirecting to {new}".encode(),
            )
        assert request.url.path == new
        return httpx.Response(200, headers=JSON, content=BODY)

    outcome = await call(handler, token=TOKEN, repo="meta-llama/Meta-Llama-3.1-8B-Instruct")
    assert outcome == Found(STATS)
    assert [request.url.path for request in requests] == [old, new]
    assert all(request.url.host == "hub.test" for request in requests)
    assert requests[1].headers["authorization"] == f"Bearer {TOKEN}"  # same origin: the token still goes


async def test_redirect_to_missing_repo_is_missing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/models/org/old":
            return httpx.Response(307, headers={"location": "/api/models/org/new"})
        return httpx.Response(404, headers={"x-error-code": "RepoNotFound"})

    assert await call(handler, repo="org/old") == Missing()


async def test_redirect_loop_is_failed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"location": request.url.path})

    assert_outcome(await call(handler), FailedStartingWith("connection error"))


# ---------------------------------------------------------------------------------------- the token stays secret

LEAKY = [
    pytest.param(respond(200, JSON, BODY), id="found"),
    pytest.param(respond(404), id="missing"),
    pytest.param(respond(401, {"x-error-code": "RepoNotFound"}), id="401-missing"),
    pytest.param(echo_token(401, UNAUTHENTICATED, b'{"error":"bad token '), id="401-failed"),
    pytest.param(respond(429, {"retry-after": "30"}), id="429"),
    pytest.param(echo_token(500, JSON, b'{"error":"'), id="500"),
    pytest.param(echo_token(200, JSON, b"not json "), id="malformed"),
    pytest.param(echo_token(200, JSON, b"[], "), id="malformed-array"),
    pytest.param(raise_(httpx.ConnectError), id="connect-error"),
    pytest.param(raise_(httpx.ReadTimeout), id="timeout"),
]


@pytest.mark.parametrize("handler", LEAKY)
async def test_token_never_in_reason_or_logs(handler: Handler, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # whatever another test left the httpx logger at
    outcome = await call(handler, token=TOKEN)
    if isinstance(outcome, Failed):
        assert TOKEN not in outcome.reason
    assert TOKEN not in repr(outcome)
    for record in caplog.records:
        assert TOKEN not in record.getMessage(), record.name
        assert TOKEN not in repr(record.args), record.name
        assert TOKEN not in (record.exc_text or ""), record.name
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("status", [200, 404, 429, 500])
async def test_httpx_request_log_is_captured_without_the_token(status: int, caplog: pytest.LogCaptureFixture) -> None:
    # httpx logs every request at INFO; the check above would be vacuous if its records were not captured.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # whatever another test left the httpx logger at
    await call(respond(status, JSON, BODY), token=TOKEN)
    httpx_records = [record for record in caplog.records if record.name.startswith("httpx")]
    assert any("/api/models/org/model" in record.getMessage() for record in httpx_records)
    assert all(TOKEN not in record.getMessage() for record in httpx_records)


async def test_token_not_in_redirect_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # whatever another test left the httpx logger at

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/models/org/old":
            return httpx.Response(307, headers={"location": "/api/models/org/model"})
        return httpx.Response(200, headers=JSON, content=BODY)

    assert await call(handler, token=TOKEN, repo="org/old") == Found(STATS)
    assert len([record for record in caplog.records if record.name.startswith("httpx")]) == 2
    assert TOKEN not in caplog.text
