"""The fake Hub's file metadata (``?blobs=true``, ``/tree/``), drift faults and gated refusals, over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from runtime.fakehub import file_sha256
from runtime.fakehub.blobs import HASH_LIMIT, POINTER_SIZE
from tests.fakehub import running_fake_hub

if TYPE_CHECKING:
    import httpx

REPO = "fake-org/Blobs-GGUF"
FILE = "blobs-q4_k_m.gguf"
SIZE = 123_456
BIG = "big-f16.gguf"
GATED_FIXTURE = "meta-llama/Llama-3.1-8B-Instruct"
EXTRA = {REPO: {FILE: SIZE, "README.md": 50, "sub/dir/notes.txt": 10, BIG: HASH_LIMIT + 1}}


@pytest.fixture(scope="module")
def server():
    with running_fake_hub(extra_files=EXTRA) as handle:
        yield handle


def siblings(client: httpx.Client, repo: str = REPO, **params) -> dict[str, dict]:
    response = client.get(f"/api/models/{repo}", params={"blobs": "true", **params})
    assert response.status_code == 200
    return {item["rfilename"]: item for item in response.json()["siblings"]}


def test_blobs_give_size_and_the_lfs_sha256_of_the_served_bytes(client):
    item = siblings(client)[FILE]
    assert item["size"] == SIZE
    assert len(item["blobId"]) == 40
    assert item["lfs"] == {"sha256": file_sha256(REPO, FILE, SIZE), "size": SIZE, "pointerSize": POINTER_SIZE}
    assert "lfs" not in siblings(client)["README.md"]


def test_without_blobs_siblings_hold_only_names(client):
    body = client.get(f"/api/models/{REPO}").json()
    assert {"rfilename": FILE} in body["siblings"]


def test_a_file_past_the_hash_limit_states_a_stable_stand_in(client):
    first = siblings(client)[BIG]["lfs"]["sha256"]
    assert len(first) == 64
    assert first == siblings(client)[BIG]["lfs"]["sha256"]


def test_a_recorded_repo_keeps_its_names_and_gains_sizes_for_served_files(client):
    recorded = siblings(client, GATED_FIXTURE)
    assert "config.json" in recorded
    assert "size" not in recorded["config.json"]


def test_the_tree_lists_the_root_and_a_folder(client):
    root = client.get(f"/api/models/{REPO}/tree/main").json()
    assert [(e["type"], e["path"]) for e in root][:1] == [("directory", "sub")]
    entry = next(e for e in root if e["path"] == FILE)
    assert entry["lfs"]["oid"] == file_sha256(REPO, FILE, SIZE)
    assert entry["size"] == SIZE
    nested = client.get(f"/api/models/{REPO}/tree/main/sub/dir").json()
    assert [e["path"] for e in nested] == ["sub/dir/notes.txt"]
    everything = client.get(f"/api/models/{REPO}/tree/main", params={"recursive": "true"}).json()
    assert {"sub", "sub/dir", "sub/dir/notes.txt"} <= {e["path"] for e in everything}
    missing = client.get(f"/api/models/{REPO}/tree/main/nope")
    assert (missing.status_code, missing.headers["x-error-code"]) == (404, "EntryNotFound")
    bad = client.get(f"/api/models/{REPO}/tree/not-a-revision")
    assert bad.headers["x-error-code"] == "RevisionNotFound"


def test_drift_changes_size_sha256_and_moves_main(hub, client):
    before = client.get(f"/api/models/{REPO}").json()["sha"]
    hub.faults(drift=[{"repo": REPO, "file": FILE, "size": 7, "sha256": "e" * 64}])
    body = client.get(f"/api/models/{REPO}", params={"blobs": "true"}).json()
    item = next(i for i in body["siblings"] if i["rfilename"] == FILE)
    assert (item["size"], item["lfs"]["sha256"]) == (7, "e" * 64)
    assert body["sha"] != before
    assert client.head(f"/{REPO}/resolve/main/{FILE}").headers["content-length"] == "7"


def test_drift_renames_a_file(hub, client):
    hub.faults(drift=[{"repo": REPO, "file": FILE, "renamed_to": "v2.gguf"}])
    names = siblings(client)
    assert "v2.gguf" in names
    assert FILE not in names
    assert client.head(f"/{REPO}/resolve/main/{FILE}").status_code == 404


def test_drift_deletes_a_repo(hub, client):
    hub.faults(drift=[{"repo": REPO, "deleted": True}])
    assert client.get(f"/api/models/{REPO}").status_code == 401
    assert client.get(f"/api/models/{REPO}", headers={"authorization": "Bearer t"}).status_code == 404


def test_drift_forgets_old_revisions(hub, client):
    hub.faults(drift=[{"repo": REPO, "commit": "f" * 40, "forget_revisions": True}])
    assert client.get(f"/api/models/{REPO}/revision/{'a' * 40}").headers["x-error-code"] == "RevisionNotFound"
    assert client.get(f"/api/models/{REPO}/revision/{'f' * 40}").status_code == 200
    assert client.get(f"/api/models/{REPO}").json()["sha"] == "f" * 40


def test_a_gated_repo_is_401_anonymous_403_unapproved_and_open_to_a_token(hub, client):
    hub.faults(drift=[{"repo": REPO, "gated": "manual"}], denied_tokens=["hf_pending"])
    assert client.get(f"/api/models/{REPO}").json()["gated"] == "manual"  # metadata stays public
    url = f"/{REPO}/resolve/main/{FILE}"
    anonymous = client.head(url)
    assert (anonymous.status_code, anonymous.headers["x-error-code"]) == (401, "GatedRepo")
    pending = client.head(url, headers={"authorization": "Bearer hf_pending"})
    assert (pending.status_code, pending.headers["x-error-code"]) == (403, "GatedRepo")
    assert client.head(url, headers={"authorization": "Bearer hf_ok"}).status_code == 200


def test_a_drift_with_unknown_fields_is_refused(hub):
    response = hub.control.put("/_fake/faults", json={"drift": [{"repo": REPO, "color": "red"}]})
    assert response.status_code == 400


RECORDED_TREE = Path(__file__).parents[2] / "data" / "hf" / "google-bert__bert-base-uncased.tree_dd4bc8b2.json"


def test_tree_entries_have_the_recorded_shape(client):
    recorded = json.loads(RECORDED_TREE.read_text())
    served = client.get(f"/api/models/{REPO}/tree/main").json()
    lfs_keys = {frozenset(entry["lfs"]) for entry in recorded if "lfs" in entry}
    plain_keys = {frozenset(entry) for entry in recorded if "lfs" not in entry}
    assert {frozenset(entry["lfs"]) for entry in served if "lfs" in entry} == lfs_keys
    assert {frozenset(entry) for entry in served if "lfs" not in entry and entry["type"] == "file"} <= plain_keys
