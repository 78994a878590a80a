"""The cache directory: marking, names, records, diff and deletion."""

from __future__ import annotations

import pytest

from runtime.agent.cache import MARKER, STATE, Cache, VerifiedFile, check_name
from runtime.agent.config import hostname_runtime_id, is_runtime_id
from runtime.agent.download import FileSpec
from runtime.agent.errors import CacheError
from runtime.agent.parts import part_path

URL = "http://hub.invalid/org/repo/resolve/main/model.gguf"


def test_a_new_directory_is_created_and_marked(tmp_path):
    root = tmp_path / "new" / "cache"
    Cache.open(root)
    assert (root / MARKER).is_file()
    Cache.open(root)  # and reopened


def test_a_directory_that_is_not_a_cache_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CacheError, match="is not empty and is not a node cache"):
        Cache.open(tmp_path)
    assert (tmp_path / "notes.txt").exists()


def test_a_file_is_refused_as_cache(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CacheError):
        Cache.open(tmp_path / "file")


@pytest.mark.parametrize(
    "name",
    ["", "/etc/passwd", "../escape", "a/../../b", "a//b", "./a", "a\\b", "nul\0", STATE, "x.part", "x.part.json"],
)
def test_names_that_leave_the_model_directory_or_clash_are_refused(name):
    with pytest.raises(CacheError, match="cannot hold"):
        check_name(name)


@pytest.mark.parametrize("name", ["model.gguf", "sub/dir/model.gguf", ".gitattributes", "config.json"])
def test_ordinary_names_are_accepted(name):
    assert check_name(name).as_posix() == name


def test_a_model_id_must_be_a_slug(tmp_path):
    cache = Cache.open(tmp_path)
    with pytest.raises(CacheError):
        cache.model_dir("../x")


def record(cache: Cache, model_id: str, name: str, data: bytes, url: str = URL, sha256: str | None = None) -> FileSpec:
    path = cache.file_path(model_id, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    cache.record(model_id, name, VerifiedFile(url, len(data), sha256))
    return FileSpec(name, url, len(data), sha256)


def test_a_recorded_file_on_disk_is_complete(tmp_path):
    cache = Cache.open(tmp_path)
    spec = record(cache, "m", "model.gguf", b"12345", sha256="a" * 64)
    assert cache.complete("m", spec) == VerifiedFile(URL, 5, "a" * 64)
    assert cache.complete("m", FileSpec(spec.name, spec.url)) is not None  # size unknown: the record says


@pytest.mark.parametrize(
    ("change", "present"),
    [
        ({"url": URL.replace("main", "0" * 40)}, False),
        ({"size": 6}, False),
        ({"sha256": "b" * 64}, True),  # on disk, verified against another sha256: check again, don't refetch
    ],
)
def test_a_record_for_another_version_is_not_complete(tmp_path, change, present):
    cache = Cache.open(tmp_path)
    spec = record(cache, "m", "model.gguf", b"12345", sha256="a" * 64)
    other = FileSpec(**{"name": spec.name, "url": spec.url, "size": spec.size, "sha256": spec.sha256, **change})
    assert cache.complete("m", other) is None
    assert (cache.present("m", other) is not None) is present


def test_a_recorded_file_that_is_gone_or_truncated_is_not_complete(tmp_path):
    cache = Cache.open(tmp_path)
    spec = record(cache, "m", "model.gguf", b"12345")
    cache.file_path("m", "model.gguf").write_bytes(b"123")
    assert cache.complete("m", spec) is None
    cache.file_path("m", "model.gguf").unlink()
    assert cache.complete("m", spec) is None


def test_an_unreadable_record_counts_as_none(tmp_path):
    cache = Cache.open(tmp_path)
    spec = record(cache, "m", "model.gguf", b"12345")
    (cache.model_dir("m") / STATE).write_text("{not json")
    assert cache.verified("m") == {}
    assert cache.complete("m", spec) is None


def test_models_not_desired_are_found_and_deleted_but_other_directories_are_kept(tmp_path):
    cache = Cache.open(tmp_path)
    for model_id in ("keep", "gone-1", "gone-2"):
        record(cache, model_id, "f.gguf", b"x")
    (tmp_path / "Not A Model").mkdir()
    (tmp_path / "loose-file").write_text("x")
    assert cache.stale(["keep"]) == ["gone-1", "gone-2"]
    for model_id in cache.stale(["keep"]):
        cache.remove_model(model_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MARKER, "Not A Model", "keep", "loose-file"])
    assert cache.models() == ["keep"]


def test_prune_keeps_only_the_named_files_and_their_records(tmp_path):
    cache = Cache.open(tmp_path)
    record(cache, "m", "a.gguf", b"a")
    record(cache, "m", "old/b.gguf", b"b")
    part_path(cache.file_path("m", "c.gguf")).write_bytes(b"partial")
    removed = cache.prune_model("m", ["a.gguf"])
    assert removed == ["c.gguf.part", "old/b.gguf"]
    assert sorted(p.name for p in cache.model_dir("m").iterdir()) == [STATE, "a.gguf"]
    assert list(cache.verified("m")) == ["a.gguf"]


def test_the_runtime_id_is_made_once_and_kept(tmp_path):
    cache = Cache.open(tmp_path)
    first = cache.runtime_id(lambda: hostname_runtime_id("my host.local"), is_runtime_id)
    assert first.startswith("my-host.local-")
    assert is_runtime_id(first)
    assert Cache.open(tmp_path).runtime_id(lambda: "other", is_runtime_id) == first


def test_an_invalid_stored_runtime_id_is_replaced(tmp_path):
    cache = Cache.open(tmp_path)
    (tmp_path / "runtime_id").write_text("-bad id-\n")
    assert cache.runtime_id(lambda: "node-1", is_runtime_id) == "node-1"
    assert (tmp_path / "runtime_id").read_text() == "node-1\n"


@pytest.mark.parametrize(("host", "start"), [("", "node-"), ("___", "node-"), ("a" * 300, "a" * 100 + "-")])
def test_hostname_ids_are_valid(host, start):
    made = hostname_runtime_id(host or "___")
    assert made.startswith(start)
    assert is_runtime_id(made)
