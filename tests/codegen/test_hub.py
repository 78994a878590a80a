"""The catalog tools' Hub client with ``httpx.MockTransport``: statuses, 429 cooldown, retries, offline."""

from __future__ import annotations

import httpx
import pytest

from codegen.errors import GatedRepo, HubUnavailable, RepoNotFound, RevisionNotFound
from codegen.hub import HubClient, HubSettings
from codegen.repo_info import parse_repo_info

INFO = (
    b'{"id":"org/Model-GGUF","sha":"' + b"a" * 40 + b'","gated":false,"siblings":['
    b'{"rfilename":"m-Q4_K_M.gguf","blobId":"' + b"b" * 40 + b'","size":10,'
    b'"lfs":{"sha256":"' + b"c" * 64 + b'","size":10,"pointerSize":134}},'
    b'{"rfilename":"README.md","blobId":"' + b"d" * 40 + b'","size":5}]}'
)


class Recorder:
    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.slept: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


async def ask(recorder: Recorder, **settings) -> object:
    clock = iter(range(0, 10_000, 5))  # each reading is 5 s later: a cooldown never waits twice
    options = HubSettings(endpoint="https://hub.test", **settings)
    transport = httpx.MockTransport(recorder.handler)
    async with HubClient(options, transport=transport, sleep=recorder.sleep, clock=lambda: next(clock)) as hub:
        return await hub.model_info("org/Model-GGUF")


async def test_model_info_asks_for_blobs_once_and_parses_lfs():
    recorder = Recorder(httpx.Response(200, content=INFO))
    info = await ask(recorder)
    assert [str(r.url) for r in recorder.requests] == ["https://hub.test/api/models/org/Model-GGUF?blobs=true"]
    assert info.sha == "a" * 40
    assert info.gated is None
    assert info.files["m-Q4_K_M.gguf"].sha256 == "c" * 64
    assert info.files["README.md"].sha256 is None
    assert info.weight_files() == ["m-Q4_K_M.gguf"]


async def test_a_token_is_sent_as_bearer():
    recorder = Recorder(httpx.Response(200, content=INFO))
    await ask(recorder, token="hf_abc")
    assert recorder.requests[0].headers["authorization"] == "Bearer hf_abc"


async def test_429_cools_down_for_retry_after_then_succeeds():
    limited = httpx.Response(429, headers={"retry-after": "7"})
    recorder = Recorder(limited, httpx.Response(200, content=INFO))
    await ask(recorder)
    assert len(recorder.requests) == 2
    assert 7 >= recorder.slept[0] > 0


async def test_429_past_the_longest_wait_is_unavailable():
    recorder = Recorder(httpx.Response(429, headers={"retry-after": "100"}))
    with pytest.raises(HubUnavailable, match="rate limited"):
        await ask(recorder, max_wait=150)
    assert len(recorder.requests) == 2


async def test_5xx_is_retried_then_reported():
    recorder = Recorder(httpx.Response(502), httpx.Response(502), httpx.Response(502))
    with pytest.raises(HubUnavailable, match="HTTP 502"):
        await ask(recorder, retries=2, backoff=0.1)
    assert len(recorder.requests) == 3
    assert recorder.slept == [0.1, 0.2]


@pytest.mark.parametrize(
    ("response", "token", "error"),
    [
        (httpx.Response(401, headers={"x-error-message": "Invalid username or password."}), None, RepoNotFound),
        (httpx.Response(404, headers={"x-error-code": "RepoNotFound"}), "hf_x", RepoNotFound),
        (httpx.Response(404, headers={"x-error-code": "RevisionNotFound"}), None, RevisionNotFound),
        (httpx.Response(403, headers={"x-error-code": "GatedRepo"}), "hf_x", GatedRepo),
        (
            httpx.Response(401, headers={"x-error-message": "Invalid credentials in Authorization header"}),
            "hf_bad",
            HubUnavailable,
        ),
        (httpx.Response(200, content=b"<html>"), None, HubUnavailable),
        (httpx.Response(200, content=b"[]"), None, HubUnavailable),
    ],
)
async def test_answers_map_to_errors(response, token, error):
    with pytest.raises(error):
        await ask(Recorder(response), token=token)


def test_offline_refuses_before_any_call():
    settings = HubSettings.from_env({"HF_HUB_OFFLINE": "True"})
    with pytest.raises(HubUnavailable, match="HF_HUB_OFFLINE"):
        HubClient(settings)


@pytest.mark.parametrize(("value", "offline"), [("1", True), ("on", True), ("YES", True), ("", False), ("0", False)])
def test_offline_is_read_as_huggingface_hub_does(value, offline):
    assert HubSettings.from_env({"HF_HUB_OFFLINE": value}).offline is offline


def test_an_empty_endpoint_is_the_default():
    assert HubSettings.from_env({"HF_ENDPOINT": "", "HF_TOKEN": ""}) == HubSettings()


def test_shards_are_summed_with_their_index():
    body = (
        b'{"id":"o/m","siblings":[{"rfilename":"model.safetensors.index.json","size":100},'
        b'{"rfilename":"model-00001-of-00002.safetensors","size":5,"lfs":{"size":5}},'
        b'{"rfilename":"model-00002-of-00002.safetensors","size":6,"lfs":{"size":6}},'
        b'{"rfilename":"other-00001-of-00001.safetensors","size":9}]}'
    )
    info = parse_repo_info(body, "o/m")
    assert [part.size for part in info.parts("model.safetensors.index.json") or []] == [100, 5, 6]
    assert info.weight_files() == ["model.safetensors.index.json"]
