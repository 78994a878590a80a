"""The fake Hub over real HTTP (uvicorn on loopback, httpx clients): payloads, files, ranges, faults, stats."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest

import runtime.fakehub
from generated.catalog import CATALOG
from generated.types import ModelFormat
from runtime.fakehub import BLOCK, byte_range, file_bytes, file_sha256
from tests.fakehub import running_fake_hub

FIXTURES = Path(runtime.fakehub.__file__).parent / "fixtures"
#: SHA-256 of each recorded payload as it was recorded (runtime/fakehub/fixtures/README.md has the provenance).
RECORDED_SHA256 = {
    "HuggingFaceH4__zephyr-7b-beta.model_info.json": "6628275f7990b79fd76ab0010b7e27525bd25afc04028ae706545b6175ab0a2d",
    "ggml-org__gemma-3-1b-it-GGUF.model_info.json": "354fce0efdc68faaec869e577748cc47067160255def15b2df054b159066ba0c",
    "meta-llama__Llama-3.1-8B-Instruct.model_info.json": (
        "df70c7eeebea92a3a08b516100544794ae425f3cef49dd9312cbf8bbe192cbdf"
    ),
    "openai-community__gpt2.model_info.json": "5c83dd65b451bc600b27a3c3811f682297efeac698cf3e9953c2b66c1a27d226",
}
TINY_REPO = "fake-org/Tiny-GGUF"
TINY = "tiny-q4_k_m.gguf"
TINY_SIZE = 3 * BLOCK + 12_345
NESTED = "nested/dir/notes.txt"
GATED_REPO = "meta-llama/Llama-3.1-8B-Instruct"
TOKEN = {"Authorization": "Bearer hf_test_token"}
EXTRA = {TINY_REPO: {TINY: TINY_SIZE, NESTED: 100}, GATED_REPO: {"model.safetensors": 1000}}
RECORDED = {
    "meta-llama/Llama-3.1-8B-Instruct": "meta-llama__Llama-3.1-8B-Instruct.model_info.json",
    "HuggingFaceH4/zephyr-7b-beta": "HuggingFaceH4__zephyr-7b-beta.model_info.json",
    "openai-community/gpt2": "openai-community__gpt2.model_info.json",
    "ggml-org/gemma-3-1b-it-GGUF": "ggml-org__gemma-3-1b-it-GGUF.model_info.json",
}
CATALOG_REPOS = sorted({model.repo for model in CATALOG})


@pytest.fixture(scope="module")
def server():
    with running_fake_hub(extra_files=EXTRA) as handle:
        yield handle


def tiny_url(revision: str = "main", path: str = TINY) -> str:
    return f"/{TINY_REPO}/resolve/{revision}/{path}"


def expected(start: int = 0, end: int | None = None) -> bytes:
    return b"".join(file_bytes(TINY_REPO, TINY, TINY_SIZE, start, end))


# Model info


@pytest.mark.parametrize(("repo", "name"), RECORDED.items())
def test_recorded_repos_answer_their_fixture(client, repo, name):
    response = client.get(f"/api/models/{repo}")
    assert response.status_code == 200
    assert response.json() == json.loads((FIXTURES / name).read_bytes())
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("name", RECORDED.values())
def test_fixture_copies_are_byte_for_byte(name):
    assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == RECORDED_SHA256[name]


@pytest.mark.parametrize("repo", CATALOG_REPOS)
def test_every_catalog_repo_has_a_plausible_payload(client, repo):
    models = [model for model in CATALOG if model.repo == repo]
    info = client.get(f"/api/models/{repo}").json()
    assert info == client.get(f"/api/models/{repo}").json()  # deterministic
    assert (info["id"], info["modelId"], info["author"]) == (repo, repo, repo.split("/")[0])
    assert len(info["_id"]) == 24
    assert len(info["sha"]) == 40
    assert int(info["sha"], 16) >= 0
    assert (info["private"], info["disabled"], info["gated"]) == (False, False, False)
    assert info["pipeline_tag"] == "text-generation"
    assert info["lastModified"].endswith("Z")
    assert info["createdAt"] < info["lastModified"]
    assert info["downloads"] > 0
    assert info["likes"] > 0
    is_gguf = models[0].format == ModelFormat.gguf
    assert info["library_name"] == ("gguf" if is_gguf else "transformers")
    assert ("gguf" in info["tags"]) == is_gguf
    siblings = [sibling["rfilename"] for sibling in info["siblings"]]
    assert siblings == sorted(siblings)
    assert {model.recommended_filename for model in models} <= set(siblings)
    assert info["usedStorage"] == sum({model.recommended_filename: model.size_bytes for model in models}.values())


def test_repo_ids_match_in_any_case_and_answer_canonically(client):
    info = client.get("/api/models/BARTOWSKI/qwen_qwen3-0.6b-gguf").json()
    assert info["id"] == "bartowski/Qwen_Qwen3-0.6B-GGUF"
    assert client.get("/api/models/OPENAI-community/GPT2").json()["id"] == "openai-community/gpt2"
    response = client.get(f"/{TINY_REPO.upper()}/resolve/main/{TINY}", headers={"Range": "bytes=0-9"})
    assert response.content == expected(0, 10)


def test_an_unknown_repo_is_401_anonymously(client):
    response = client.get("/api/models/nobody/nothing")
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid username or password."}
    assert response.headers["x-error-code"] == "RepoNotFound"
    assert response.headers["x-error-message"] == "Invalid username or password."
    assert response.headers["www-authenticate"] == 'Bearer realm="Authentication required", charset="UTF-8"'


def test_an_unknown_repo_is_404_with_a_token(client):
    response = client.get("/api/models/nobody/nothing", headers=TOKEN)
    assert response.status_code == 404
    assert response.json() == {"error": "Repository not found"}
    assert response.headers["x-error-code"] == "RepoNotFound"
    assert client.get("/nobody/nothing/resolve/main/x.gguf", headers=TOKEN).status_code == 404
    assert client.get("/nobody/nothing/resolve/main/x.gguf").status_code == 401


def test_the_revision_route(client):
    main = client.get(f"/api/models/{TINY_REPO}").json()
    assert client.get(f"/api/models/{TINY_REPO}/revision/main").json() == main
    commit = "0123456789abcdef0123456789abcdef01234567"
    at_commit = client.get(f"/api/models/{TINY_REPO}/revision/{commit}").json()
    assert at_commit == {**main, "sha": commit}
    recorded = client.get(f"/api/models/{GATED_REPO}/revision/main").json()
    assert recorded == json.loads((FIXTURES / RECORDED[GATED_REPO]).read_bytes())
    missing = client.get(f"/api/models/{TINY_REPO}/revision/no-such-branch")
    assert missing.status_code == 404
    assert missing.headers["x-error-code"] == "RevisionNotFound"


# Files


def test_a_file_is_served_whole_with_its_digest(client, hub):
    response = client.get(tiny_url())
    assert response.status_code == 200
    assert len(response.content) == TINY_SIZE
    assert hashlib.sha256(response.content).hexdigest() == file_sha256(TINY_REPO, TINY, TINY_SIZE)
    assert response.headers["content-length"] == str(TINY_SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert response.headers["x-repo-commit"] == hub.hub.repos.get(TINY_REPO).sha
    assert client.get(tiny_url(path=NESTED)).content == b"".join(file_bytes(TINY_REPO, NESTED, 100))


def test_blocks_differ_and_ranges_agree_with_the_whole():
    whole = expected()
    assert whole[:BLOCK][8:] == whole[BLOCK : 2 * BLOCK][8:]
    assert whole[:BLOCK] != whole[BLOCK : 2 * BLOCK]
    assert expected(BLOCK - 3, 2 * BLOCK + 5) == whole[BLOCK - 3 : 2 * BLOCK + 5]
    assert b"".join(file_bytes(TINY_REPO, "other.gguf", 64)) != whole[:64]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=10-19", 10, 20),
        (f"bytes={BLOCK - 5}-{BLOCK + 4}", BLOCK - 5, BLOCK + 5),
        (f"bytes={TINY_SIZE - 100}-", TINY_SIZE - 100, TINY_SIZE),
        ("bytes=-5", TINY_SIZE - 5, TINY_SIZE),
        (f"bytes=-{TINY_SIZE * 2}", 0, TINY_SIZE),
        (f"bytes=100-{TINY_SIZE * 2}", 100, TINY_SIZE),
    ],
)
def test_ranges_answer_206(client, header, start, end):
    response = client.get(tiny_url(), headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{TINY_SIZE}"
    assert response.headers["content-length"] == str(end - start)
    assert response.content == expected(start, end)


@pytest.mark.parametrize("header", [f"bytes={TINY_SIZE}-", f"bytes={TINY_SIZE + 10}-{TINY_SIZE + 20}", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(client, header):
    response = client.get(tiny_url(), headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{TINY_SIZE}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=x-"])
def test_other_ranges_get_the_whole_file(header):
    assert byte_range(header, 100) is None


def test_head_sends_the_headers_only(client):
    response = client.head(tiny_url())
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(TINY_SIZE)
    ranged = client.head(tiny_url(), headers={"Range": "bytes=0-99"})
    assert (ranged.status_code, ranged.headers["content-length"], ranged.content) == (206, "100", b"")


def test_an_unknown_file_is_entry_not_found(client):
    response = client.get(tiny_url(path="missing.gguf"))
    assert response.status_code == 404
    assert response.headers["x-error-code"] == "EntryNotFound"
    assert client.get(tiny_url(revision="nope")).headers["x-error-code"] == "RevisionNotFound"
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    assert client.head(tiny_url(revision=commit)).headers["x-repo-commit"] == commit


def test_a_gated_repo_needs_a_token_for_files(client):
    url = f"/{GATED_REPO}/resolve/main/model.safetensors"
    anonymous = client.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["x-error-code"] == "GatedRepo"
    assert len(client.get(url, headers=TOKEN).content) == 1000


def test_a_sharded_index_and_its_shards_add_up_to_the_catalog_size(client):
    model = next(m for m in CATALOG if m.recommended_filename.endswith(".safetensors.index.json"))
    index = client.get(f"/{model.repo}/resolve/main/{model.recommended_filename}")
    shards = sorted(set(index.json()["weight_map"].values()))
    sizes = [int(client.head(f"/{model.repo}/resolve/main/{shard}").headers["content-length"]) for shard in shards]
    assert index.json()["metadata"]["total_size"] == sum(sizes)
    assert len(index.content) + sum(sizes) == model.size_bytes


def test_an_abandoned_download_does_not_block_the_server(client):
    model = max(CATALOG, key=lambda m: m.size_bytes)
    with client.stream("GET", f"/{model.repo}/resolve/main/{model.recommended_filename}") as response:
        assert response.headers["content-length"] == str(model.size_bytes)
        next(response.iter_raw())
    assert client.get("/_fake/stats").json()["resolve_calls"] == 1


# Faults


def test_latency_delays_the_api_only(client, hub):
    hub.faults(latency=0.3)
    started = time.monotonic()
    assert client.get(f"/api/models/{TINY_REPO}").status_code == 200
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    client.get(tiny_url(path=NESTED))
    client.get("/_fake/stats")
    assert time.monotonic() - started < 0.25


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_error_status(client, hub, status):
    hub.faults(status=status)
    response = client.get(f"/api/models/{TINY_REPO}")
    assert response.status_code == status
    assert response.json()["error"] == response.headers["x-error-message"]


def test_rate_limit_answers_429_with_the_hub_headers(client, hub):
    hub.faults(rate_limit={"retry_after": 7, "reset": 55})
    response = client.get(f"/api/models/{TINY_REPO}")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["ratelimit"] == '"api";r=0;t=55'
    assert response.headers["ratelimit-policy"] == '"fixed window";"api";q=500;w=300'
    assert response.json() == {"error": "Rate limit reached. Please log in or use a HF access token"}


async def test_a_hang_holds_the_request_until_cleared(hub):
    hub.faults(hang=True)
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
        pending = asyncio.create_task(http.get(f"/api/models/{TINY_REPO}"))
        await asyncio.sleep(0.3)
        assert not pending.done()
        await asyncio.to_thread(hub.clear)
        response = await asyncio.wait_for(pending, 5)
    assert response.status_code == 200


def test_a_client_may_give_up_on_a_hang(hub):
    hub.faults(hang=True)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{hub.url}/api/models/{TINY_REPO}", timeout=0.2)
    assert hub.stats()["api_calls"] == 1


def test_malformed_answers_200_with_broken_json(client, hub):
    hub.faults(malformed=True)
    response = client.get(f"/api/models/{TINY_REPO}")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_rename_redirects_like_the_hub(client, hub):
    old, new = "meta-llama/Meta-Llama-3.1-8B-Instruct", GATED_REPO
    hub.faults(rename={"from": old, "to": new})
    response = client.get(f"/api/models/{old}")
    assert response.status_code == 307
    assert response.headers["location"] == f"/api/models/{new}"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == f"Temporary Redirect. Redirecting to /api/models/{new}"
    followed = client.get(f"/api/models/{old}", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.json()["id"] == new


def test_the_new_id_of_a_renamed_repo_is_served(client, hub):
    before = client.get(f"/api/models/{TINY_REPO}").json()
    hub.faults(rename={"from": TINY_REPO, "to": "fake-org/Renamed-GGUF"}, routes="all")
    info = client.get(f"/api/models/{TINY_REPO}/revision/main", follow_redirects=True).json()
    assert info == {**before, "id": "fake-org/Renamed-GGUF", "modelId": "fake-org/Renamed-GGUF"}
    moved = client.get(tiny_url(), headers={"Range": "bytes=0-9"})
    assert (moved.status_code, moved.headers["location"]) == (307, f"/fake-org/Renamed-GGUF/resolve/main/{TINY}")
    assert client.get(tiny_url(), headers={"Range": "bytes=0-9"}, follow_redirects=True).content == expected(0, 10)


def test_corrupt_flips_one_byte(client, hub):
    offset = BLOCK + 17
    hub.faults(corrupt={"offset": offset})
    body = client.get(tiny_url()).content
    good = expected()
    assert [i for i in range(len(good)) if body[i] != good[i]] == [offset]
    assert client.get(tiny_url(), headers={"Range": "bytes=0-99"}).content == good[:100]


def test_faults_reach_only_the_listed_repos(client, hub):
    hub.faults(status=503, repos=[TINY_REPO.lower()])
    assert client.get(f"/api/models/{TINY_REPO}").status_code == 503
    assert client.get("/api/models/openai-community/gpt2").status_code == 200


def test_routes_choose_api_or_resolve(client, hub):
    hub.faults(status=502, routes="resolve")
    assert client.get(f"/api/models/{TINY_REPO}").status_code == 200
    assert client.get(tiny_url()).status_code == 502
    hub.faults(status=502, routes="all")
    assert client.get(f"/api/models/{TINY_REPO}").status_code == 502


def test_faults_never_touch_the_controls(client, hub):
    assert hub.faults(hang=True, status=500, routes="all") == {"hang": True, "routes": "all", "status": 500}
    assert client.get("/_fake/faults").json() == {"hang": True, "routes": "all", "status": 500}
    assert client.get("/_fake/stats").status_code == 200


@pytest.mark.parametrize("body", [{"status": 200}, {"latency": -1}, {"hang": "yes"}, {"unknown": 1}, {"routes": "x"}])
def test_invalid_faults_are_400(client, body):
    response = client.put("/_fake/faults", json=body)
    assert response.status_code == 400
    assert response.json()["error"]


# Statistics


def test_stats_count_requests_and_keep_the_last_authorization(client, hub):
    hub.faults(status=500, repos=["openai-community/gpt2"])
    client.get("/api/models/openai-community/gpt2")
    client.get(f"/api/models/{TINY_REPO}", headers=TOKEN)
    client.get(f"/api/models/{TINY_REPO}")
    client.head(tiny_url())
    assert hub.stats() == {
        "requests": {"/api/models/openai-community/gpt2": 1, f"/api/models/{TINY_REPO}": 2, tiny_url(): 1},
        "api_calls": 3,
        "resolve_calls": 1,
        "last_authorization": TOKEN["Authorization"],
    }
    hub.reset_stats()
    assert hub.stats() == {"requests": {}, "api_calls": 0, "resolve_calls": 0, "last_authorization": None}
