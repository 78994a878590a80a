"""Syncer against the fake Hub: the desired set becomes files, failures are reported and retried."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import httpx
import msgspec
import pytest

from generated.types import ManifestFile, ModelFormat, ModelManifest, NodeModelState
from runtime.agent.backoff import Backoff
from runtime.agent.cache import Cache
from runtime.agent.download import fetch_file
from runtime.agent.parts import PartInfo, info_path, part_path
from runtime.agent.sync import Syncer, hub_origins, manifest_specs
from runtime.fakehub import file_sha256
from tests.runtime.agent.conftest import (
    HF_TOKEN,
    TINY_A,
    TINY_B,
    TINY_GATED,
    TINY_SHARDED,
    content,
    manifest_of,
    sha256_of,
    shards,
)

FAST = Backoff(base=0.05, cap=0.2, random=lambda: 0.0)


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


def states(syncer: Syncer) -> dict[str, NodeModelState]:
    return {report.model_id: report.state for report in syncer.reports()}


def all_ready(syncer: Syncer) -> bool:
    return all(state == NodeModelState.ready for state in states(syncer).values())


@pytest.fixture
async def files():
    requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request)

    async with httpx.AsyncClient(follow_redirects=True, timeout=10, event_hooks={"request": [record]}) as client:
        client.requests = requests  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def cache(tmp_path):
    return Cache.open(tmp_path / "cache")


async def make_syncer(cache: Cache, files: httpx.AsyncClient, **options: Any) -> Syncer:
    return Syncer(cache, files, chunk_size=256 * 1024, backoff=FAST, **options)


async def test_the_desired_models_are_fetched_verified_and_reported_ready(hub, cache, files):
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_A, hub.url), manifest_of(TINY_B, hub.url)])
    try:
        await wait_for(lambda: all_ready(syncer))
    finally:
        await syncer.close()
    reports = {report.model_id: report for report in syncer.reports()}
    assert reports["tiny-a"].bytes_done == reports["tiny-a"].bytes_total == TINY_A.size_bytes
    assert reports["tiny-a"].error is msgspec.UNSET
    assert sha256_of(cache.file_path("tiny-a", TINY_A.recommended_filename)) == TINY_A.sha256
    assert cache.file_path("tiny-b", TINY_B.recommended_filename).read_bytes() == content(TINY_B)


async def test_complete_models_are_ready_at_once_after_a_restart(hub, cache, files):
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_A, hub.url)])
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    files.requests.clear()
    again = await make_syncer(cache, files)
    await again.apply([manifest_of(TINY_A, hub.url)])
    assert again.reports()[0].bytes_done == TINY_A.size_bytes  # known before the task even runs
    await wait_for(lambda: all_ready(again))
    await again.close()
    assert files.requests == []


async def test_a_corrupt_file_is_reported_failed_with_the_reason_then_retried(hub, cache, files):
    hub.faults(corrupt={"offset": 1000}, routes="resolve", repos=[TINY_A.repo])
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_A, hub.url)])
    try:
        await wait_for(lambda: states(syncer)["tiny-a"] == NodeModelState.failed)
        report = syncer.reports()[0]
        assert "does not match the manifest's" in str(report.error)
        assert not cache.file_path("tiny-a", TINY_A.recommended_filename).exists()
        hub.clear()
        await wait_for(lambda: all_ready(syncer))
    finally:
        await syncer.close()
    assert syncer.models["tiny-a"].error is None
    assert sha256_of(cache.file_path("tiny-a", TINY_A.recommended_filename)) == TINY_A.sha256


async def test_a_sharded_model_fetches_the_shards_its_index_names(hub, cache, files):
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_SHARDED, hub.url)])
    try:
        await wait_for(lambda: all_ready(syncer))
    finally:
        await syncer.close()
    report = syncer.reports()[0]
    assert report.bytes_done == report.bytes_total == TINY_SHARDED.size_bytes
    for name, size in shards(TINY_SHARDED).items():
        assert sha256_of(cache.file_path("tiny-sharded", name)) == file_sha256(TINY_SHARDED.repo, name, size)


async def test_models_no_longer_desired_are_stopped_and_deleted(hub, cache, files):
    (cache.root / "old-model").mkdir()
    (cache.root / "old-model" / "x.gguf").write_bytes(b"left from an earlier run")
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_A, hub.url), manifest_of(TINY_B, hub.url)])
    assert cache.models() == []  # old-model went with the first desired set
    await wait_for(lambda: all_ready(syncer))
    await syncer.apply([manifest_of(TINY_B, hub.url)])
    await syncer.close()
    assert cache.models() == ["tiny-b"]
    assert [report.model_id for report in syncer.reports()] == ["tiny-b"]


async def test_a_retained_model_keeps_its_files_but_is_neither_synced_nor_reported(hub, cache, files):
    """A catalog release removed a registered model: its files stay until an admin deletes the registration."""
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_A, hub.url), manifest_of(TINY_B, hub.url)])
    await wait_for(lambda: all_ready(syncer))
    await syncer.apply([manifest_of(TINY_B, hub.url)], retained=["tiny-a"])
    assert sorted(cache.models()) == ["tiny-a", "tiny-b"]
    assert [report.model_id for report in syncer.reports()] == ["tiny-b"]
    await syncer.apply([manifest_of(TINY_B, hub.url)])  # the admin deleted it
    await syncer.close()
    assert cache.models() == ["tiny-b"]


async def test_a_model_removed_while_downloading_is_cancelled_and_deleted(hub, cache, files):
    hub.faults(latency=0.5, routes="resolve")
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_A, hub.url)])
    await wait_for(lambda: states(syncer)["tiny-a"] == NodeModelState.downloading)
    await syncer.apply([])
    assert syncer.reports() == []
    assert cache.models() == []


async def test_a_new_sha256_in_the_manifest_is_checked_on_disk_not_fetched_again(hub, cache, files):
    plain = manifest_of(TINY_B, hub.url)
    syncer = await make_syncer(cache, files)
    await syncer.apply([plain])
    await wait_for(lambda: all_ready(syncer))
    files.requests.clear()
    file = plain.files[0]
    sha = file_sha256(TINY_B.repo, TINY_B.recommended_filename, TINY_B.size_bytes)
    hashed = msgspec.structs.replace(plain, files=[msgspec.structs.replace(file, sha256=sha)])
    await syncer.apply([hashed])
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    assert files.requests == []
    assert cache.verified("tiny-b")[TINY_B.recommended_filename].sha256 == sha


async def test_a_gated_file_without_token_fails_with_the_hub_reason(hub, cache, files):
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_GATED, hub.url)])
    try:
        await wait_for(lambda: states(syncer)["tiny-gated"] == NodeModelState.failed)
    finally:
        await syncer.close()
    assert "HTTP 401 GatedRepo" in str(syncer.reports()[0].error)


async def test_hf_token_goes_to_the_hub_and_never_into_logs(hub, cache, files, caplog):
    caplog.set_level(logging.DEBUG)
    syncer = await make_syncer(cache, files, hf_token=HF_TOKEN)
    await syncer.apply([manifest_of(TINY_GATED, hub.url)])
    try:
        await wait_for(lambda: all_ready(syncer))
    finally:
        await syncer.close()
    assert hub.stats()["last_authorization"] == f"Bearer {HF_TOKEN}"
    assert files.requests[0].headers["authorization"] == f"Bearer {HF_TOKEN}"
    assert caplog.records  # httpx and the agent did log at DEBUG
    for record in caplog.records:
        assert HF_TOKEN not in record.getMessage()
    assert HF_TOKEN not in caplog.text


def test_the_token_is_only_for_the_hubs_own_urls():
    manifest = ModelManifest(
        model_id="m",
        repo="Org/Model",
        format=ModelFormat.gguf,
        files=[
            ManifestFile(name="m.gguf", url="https://hub.example/org/model/resolve/main/m.gguf"),
            ManifestFile(name="mmproj.gguf", url="https://hub.example/other/repo/resolve/main/mmproj.gguf"),
            ManifestFile(name="extra.bin", url="https://downloads.example/extra.bin", priority=-1),
        ],
    )
    assert hub_origins(manifest) == {"https://hub.example"}
    assert [spec.name for spec in manifest_specs(manifest)] == ["extra.bin", "m.gguf", "mmproj.gguf"]


async def test_the_foreign_url_gets_no_token(cache, files):
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        return httpx.Response(200, content=b"data")

    manifest = ModelManifest(
        model_id="m",
        repo="org/model",
        format=ModelFormat.gguf,
        files=[
            ManifestFile(name="m.gguf", url="https://hub.example/org/model/resolve/main/m.gguf", size_bytes=4),
            ManifestFile(name="extra.bin", url="https://downloads.example/extra.bin"),
        ],
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        syncer = Syncer(cache, client, hf_token=HF_TOKEN, backoff=FAST)
        await syncer.apply([manifest])
        await wait_for(lambda: all_ready(syncer))
        await syncer.close()
    assert seen == {"hub.example": f"Bearer {HF_TOKEN}", "downloads.example": None}


async def test_downloads_share_the_concurrency_slots(hub, cache, files):
    syncer = await make_syncer(cache, files, concurrency=1)
    hub.faults(latency=0.3, routes="resolve")
    await syncer.apply([manifest_of(TINY_A, hub.url), manifest_of(TINY_B, hub.url)])
    try:
        await wait_for(lambda: NodeModelState.downloading in states(syncer).values())
        assert sorted(states(syncer).values()) == [NodeModelState.downloading, NodeModelState.pending]
        hub.clear()
        await wait_for(lambda: all_ready(syncer))
    finally:
        await syncer.close()


async def test_a_model_named_outside_the_cache_fails_instead_of_writing_there(cache, files, tmp_path):
    manifest = ModelManifest(
        model_id="m",
        repo="org/model",
        format=ModelFormat.gguf,
        files=[ManifestFile(name="../../evil", url="http://x.invalid/e")],
    )
    syncer = Syncer(cache, files, backoff=FAST)
    await syncer.apply([manifest])
    try:
        await wait_for(lambda: states(syncer)["m"] == NodeModelState.failed)
    finally:
        await syncer.close()
    assert "cannot hold" in str(syncer.reports()[0].error)
    assert not (tmp_path / "evil").exists()


async def test_a_partial_file_from_an_earlier_run_is_counted_and_resumed(hub, cache, files):
    manifest = manifest_of(TINY_A, hub.url)
    target = cache.file_path("tiny-a", TINY_A.recommended_filename)
    target.parent.mkdir(parents=True)
    part_path(target).write_bytes(content(TINY_A)[:1_000_000])
    info_path(target).write_bytes(msgspec.json.encode(PartInfo(url=manifest.files[0].url, size=TINY_A.size_bytes)))
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest])
    assert syncer.reports()[0].bytes_done == 1_000_000
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    assert files.requests[0].headers["range"] == "bytes=1000000-"
    assert sha256_of(target) == TINY_A.sha256


async def test_a_ready_model_whose_file_vanished_is_fetched_again(hub, cache, files):
    manifest = manifest_of(TINY_B, hub.url)
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest])
    await wait_for(lambda: all_ready(syncer))
    cache.file_path("tiny-b", TINY_B.recommended_filename).unlink()
    await syncer.apply([manifest])
    assert syncer.reports()[0].error == "files went missing from the cache"
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    assert cache.file_path("tiny-b", TINY_B.recommended_filename).read_bytes() == content(TINY_B)


async def test_an_unexpected_error_is_reported_failed_and_retried(hub, cache, files, monkeypatch, caplog):
    calls = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("a bug")
        return await fetch_file(*args, **kwargs)

    monkeypatch.setattr("runtime.agent.sync.fetch_file", flaky)
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_B, hub.url)])
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    assert "unexpected error" in caplog.text
    assert "ValueError: a bug" in caplog.text


async def sample_reports(syncer: Syncer, model_id: str) -> list[tuple[NodeModelState, int, int]]:
    """Every distinct report of ``model_id`` until it is ready, sampled every few milliseconds."""
    seen: list[tuple[NodeModelState, int, int]] = []
    deadline = time.monotonic() + 10
    while not seen or seen[-1][0] != NodeModelState.ready:
        assert time.monotonic() < deadline, f"not ready: {seen[-3:]}"
        report = next(report for report in syncer.reports() if report.model_id == model_id)
        sample = (report.state, report.bytes_done, report.bytes_total)
        if not seen or seen[-1] != sample:
            seen.append(sample)
        await asyncio.sleep(0.005)
    return seen


async def test_a_sharded_model_reports_its_whole_size_from_the_first_downloading_report(hub, cache, files):
    # the manifest lists the index alone, without a size: the node counts the index and every shard
    hub.faults(latency=0.1, routes="resolve")
    syncer = await make_syncer(cache, files, concurrency=1)
    await syncer.apply([manifest_of(TINY_SHARDED, hub.url)])
    try:
        seen = await sample_reports(syncer, "tiny-sharded")
    finally:
        await syncer.close()
    downloading = [sample for sample in seen if sample[0] == NodeModelState.downloading]
    assert downloading, seen
    assert {state for state, _, _ in seen} == {NodeModelState.pending, NodeModelState.downloading, NodeModelState.ready}
    assert all(total == TINY_SHARDED.size_bytes for state, _, total in seen if state != NodeModelState.pending), seen
    done = [done for _, done, _ in seen]
    assert done == sorted(done)
    assert seen[-1] == (NodeModelState.ready, TINY_SHARDED.size_bytes, TINY_SHARDED.size_bytes)


async def test_a_cached_sharded_model_counts_every_shard_before_its_task_runs(hub, cache, files):
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_SHARDED, hub.url)])
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    files.requests.clear()
    again = await make_syncer(cache, files)
    await again.apply([manifest_of(TINY_SHARDED, hub.url)])
    first = again.reports()[0]
    assert first.bytes_done == first.bytes_total == TINY_SHARDED.size_bytes
    await wait_for(lambda: all_ready(again))
    await again.close()
    assert files.requests == []  # the shards' sizes come from the cache's records, not from HEADs


def artifact_server(sizes: dict[str, int], *, head: int = 200) -> tuple[list[httpx.Request], httpx.MockTransport]:
    """Files of ``sizes`` by path; ``HEAD`` answers ``head`` (e.g. 405, as some file servers do)."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        size = sizes[request.url.path]
        if request.method == "HEAD":
            return httpx.Response(head, headers={"content-length": str(size)} if head == 200 else {})
        return httpx.Response(200, content=b"x" * size)

    return requests, httpx.MockTransport(handler)


ARTIFACT_MANIFEST = ModelManifest(
    model_id="m",
    repo="org/model",
    format=ModelFormat.gguf,
    files=[
        ManifestFile(name="m.gguf", url="https://hub.example/org/model/resolve/main/m.gguf", size_bytes=1000),
        ManifestFile(name="mmproj.gguf", url="https://downloads.example/mmproj.gguf"),
    ],
)


async def test_an_artifact_without_a_size_is_counted_from_the_start(cache):
    requests, transport = artifact_server({"/org/model/resolve/main/m.gguf": 1000, "/mmproj.gguf": 300})
    async with httpx.AsyncClient(transport=transport) as client:
        syncer = Syncer(cache, client, backoff=FAST, concurrency=1)
        await syncer.apply([ARTIFACT_MANIFEST])
        seen = await sample_reports(syncer, "m")
        await syncer.close()
    assert all(total == 1300 for state, _, total in seen if state != NodeModelState.pending), seen
    assert seen[-1] == (NodeModelState.ready, 1300, 1300)
    assert [request.method for request in requests] == ["HEAD", "GET", "GET"]  # sizes first, then the bytes


async def test_an_artifact_whose_server_refuses_head_is_still_fetched(cache):
    _, transport = artifact_server({"/org/model/resolve/main/m.gguf": 1000, "/mmproj.gguf": 300}, head=405)
    async with httpx.AsyncClient(transport=transport) as client:
        syncer = Syncer(cache, client, backoff=FAST)
        await syncer.apply([ARTIFACT_MANIFEST])
        await wait_for(lambda: all_ready(syncer))
        await syncer.close()
    report = syncer.reports()[0]
    assert (report.bytes_done, report.bytes_total) == (1300, 1300)


async def test_a_download_logs_its_size_progress_and_end(hub, cache, files, caplog):
    caplog.set_level(logging.INFO, logger="runtime.agent")
    syncer = await make_syncer(cache, files, progress_interval=0.0)  # a line at every piece written
    await syncer.apply([manifest_of(TINY_A, hub.url)])
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    lines = [record.getMessage() for record in caplog.records if record.name == "runtime.agent.sync"]
    assert lines[0] == "tiny-a: downloading 3.0 MiB (1 file to fetch)"
    progress = [line for line in lines if " %)" in line]
    assert len(progress) >= 3  # 3 MiB in pieces of 256 KiB
    assert all(line.startswith("tiny-a: ") and " of 3.0 MiB (" in line for line in progress)
    assert "(100.0 %)" in progress[-1]
    assert any("MiB/s" in line or "KiB/s" in line for line in progress)
    assert re.fullmatch(r"tiny-a: ready, 3\.0 MiB in [\d.]+ s \([\d.]+ [KM]iB/s on average\)", lines[-1])


async def test_progress_lines_are_throttled_and_a_failure_says_when_it_is_retried(hub, cache, files, caplog):
    caplog.set_level(logging.INFO, logger="runtime.agent")
    syncer = await make_syncer(cache, files)  # the default interval: no progress line in a short download
    await syncer.apply([manifest_of(TINY_B, hub.url), manifest_of(TINY_GATED, hub.url)])
    await wait_for(lambda: states(syncer)["tiny-b"] == NodeModelState.ready)
    await wait_for(lambda: "tiny-gated: failed at 0 B of" in caplog.text)
    await syncer.close()
    assert " %)" not in caplog.text
    assert re.search(r"tiny-gated: failed at 0 B of 512\.0 KiB: .+; retrying in [\d.]+ s", caplog.text)


async def test_a_model_already_in_the_cache_logs_ready_at_once(hub, cache, files, caplog):
    syncer = await make_syncer(cache, files)
    await syncer.apply([manifest_of(TINY_B, hub.url)])
    await wait_for(lambda: all_ready(syncer))
    await syncer.close()
    caplog.set_level(logging.INFO, logger="runtime.agent")
    caplog.clear()
    again = await make_syncer(cache, files)
    await again.apply([manifest_of(TINY_B, hub.url)])
    await wait_for(lambda: all_ready(again))
    await again.close()
    assert "tiny-b: ready, 1.0 MiB (already in the cache)" in caplog.text
    assert "downloading" not in caplog.text
