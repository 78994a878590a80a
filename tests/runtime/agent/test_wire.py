"""LenientDecoder: unknown fields are dropped at every depth; every other rule of the wire types holds."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from generated.types import HeartbeatResponse, ModelManifest, Node, NodeStatus
from runtime.agent.wire import LenientDecoder

MANIFEST: dict[str, Any] = {
    "model_id": "tiny-a",
    "repo": "org/repo",
    "format": "gguf",
    "files": [{"name": "a.gguf", "url": "http://hub/org/repo/resolve/main/a.gguf", "size_bytes": 10}],
}
NODE: dict[str, Any] = {
    "runtime_id": "n1",
    "machine_name": "box",
    "status": "online",
    "synced": True,
    "metrics": {"cpu_usage": 0.5},
    "metrics_stale": False,
    "last_heartbeat_at": "2026-12-03T09:00:00Z",
}


class Ping(msgspec.Struct, tag_field="type", tag="Ping", forbid_unknown_fields=True):
    at: int


class Pong(msgspec.Struct, tag_field="type", tag="Pong", forbid_unknown_fields=True):
    at: Annotated[int, msgspec.Meta(ge=0)]
    names: dict[str, Ping] = msgspec.field(default_factory=dict)


class Envelope(msgspec.Struct, forbid_unknown_fields=True, rename={"frames": "Frames"}):
    frames: list[Ping | Pong]
    pair: tuple[Ping, int] | None = None


def newer(value: dict[str, Any]) -> dict[str, Any]:
    return value | {"added_later": {"nested": [1, 2]}}


def test_the_generated_types_forbid_unknown_fields_so_a_strict_client_would_fail():
    body = msgspec.json.encode(newer({"status": "online", "models": []}))
    with pytest.raises(msgspec.ValidationError, match="added_later"):
        msgspec.json.decode(body, type=HeartbeatResponse)
    assert LenientDecoder(HeartbeatResponse).decode(body) == HeartbeatResponse(NodeStatus.online, [])


def test_unknown_fields_are_dropped_at_every_depth():
    manifest = newer(MANIFEST | {"files": [newer(file) for file in MANIFEST["files"]]})
    answer = LenientDecoder(HeartbeatResponse).decode(
        msgspec.json.encode(newer({"status": "online", "models": [manifest]}))
    )
    assert answer.models == [msgspec.convert(MANIFEST, ModelManifest)]
    node = LenientDecoder(Node).decode(msgspec.json.encode(newer(NODE | {"metrics": newer(NODE["metrics"])})))
    assert node == msgspec.convert(NODE, Node)
    manifests = LenientDecoder(list[ModelManifest]).decode(msgspec.json.encode([manifest, manifest]))
    assert manifests == [msgspec.convert(MANIFEST, ModelManifest)] * 2


def test_tagged_unions_renames_tuples_and_dicts_are_followed():
    body = {
        "Frames": [
            newer({"type": "Ping", "at": 1}),
            newer({"type": "Pong", "at": 2, "names": {"x": newer({"type": "Ping", "at": 3})}}),
        ],
        "pair": [newer({"type": "Ping", "at": 4}), 5],
        "frames": "not the encoded name: unknown",
    }
    decoded = LenientDecoder(Envelope).decode(msgspec.json.encode(body))
    assert decoded == Envelope([Ping(1), Pong(2, {"x": Ping(3)})], (Ping(4), 5))


@pytest.mark.parametrize(
    "body",
    [
        newer({"status": "sideways", "models": []}),  # not a NodeStatus
        newer({"models": []}),  # status missing
        {"status": "online", "models": [MANIFEST | {"files": [{"name": "a", "url": "u", "size_bytes": -1}]}]},
        b"not json",
    ],
)
def test_every_other_rule_still_applies(body):
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    with pytest.raises(msgspec.DecodeError):
        LenientDecoder(HeartbeatResponse).decode(content)
