"""The generated Python imports, is deeply immutable, and reads no JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from types import MappingProxyType

import msgspec
import pytest

from codegen import catalog_version
from generated import catalog, lifecycle
from generated.types import Capability, HubItem, ModelStatus, NodeStatus, SupportedModel
from tests.conftest import ROOT


def test_fixture_catalog_imports_in_order(small_catalog_module):
    assert [m.id for m in small_catalog_module.CATALOG] == ["tiny-chat", "vision-7b", "shards-20b"]
    assert small_catalog_module.CATALOG_BY_ID["vision-7b"] is small_catalog_module.CATALOG[1]
    assert isinstance(small_catalog_module.CATALOG_BY_ID, MappingProxyType)


def test_fixture_catalog_keeps_every_value(small_catalog_module):
    source = json.loads((ROOT / "tests/data/catalogs/small.json").read_text(encoding="utf-8"))["models"]
    assert json.loads(msgspec.json.encode(small_catalog_module.CATALOG)) == source


def test_setting_a_field_fails(small_catalog_module):
    model = small_catalog_module.CATALOG[1]
    with pytest.raises(AttributeError):
        model.size_bytes = 1  # type: ignore[misc]


def test_nested_sequences_and_structs_are_immutable(small_catalog_module):
    model = small_catalog_module.CATALOG[1]
    assert isinstance(model.tags, tuple)
    with pytest.raises(AttributeError):
        model.tags.append("x")  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        model.capabilities[0] = Capability.Vision  # type: ignore[index]
    with pytest.raises(AttributeError):
        model.artifacts[0].path = "elsewhere.gguf"  # type: ignore[index, misc]
    with pytest.raises(AttributeError):
        model.artifacts[0].runtimes.append("x")  # type: ignore[index, union-attr]


def test_the_catalog_and_its_index_cannot_change(small_catalog_module):
    with pytest.raises(TypeError):
        small_catalog_module.CATALOG_BY_ID["new"] = small_catalog_module.CATALOG[0]
    with pytest.raises(TypeError):
        small_catalog_module.CATALOG[0] = small_catalog_module.CATALOG[1]


def test_catalog_version_is_a_hash_of_content_not_formatting():
    models = json.loads((ROOT / "tests/data/catalogs/small.json").read_text(encoding="utf-8"))["models"]
    reordered_keys = [dict(reversed(list(m.items()))) for m in models]
    assert catalog_version(reordered_keys) == catalog_version(models)
    changed = [dict(models[0], size_bytes=1001), *models[1:]]
    assert catalog_version(changed) != catalog_version(models)


def test_real_catalog_module_matches_the_catalog_file():
    source = json.loads((ROOT / "supported_models.json").read_text(encoding="utf-8"))["models"]
    assert json.loads(msgspec.json.encode(catalog.CATALOG)) == source
    assert catalog_version(source) == catalog.CATALOG_VERSION
    assert len(catalog.CATALOG) >= 20
    assert set(catalog.CATALOG_BY_ID) == {m["id"] for m in source}


def test_importing_the_catalog_reads_no_json():
    probe = (
        "import sys, json\n"
        "def refuse(*a, **k): raise AssertionError('JSON parsed at import')\n"
        "json.load = json.loads = refuse\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' else None)\n"
        "import generated.catalog as c\n"
        "assert len(c.CATALOG) >= 20\n"
        "assert not [p for p in opened if p.endswith('.json')], opened\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_generated_types_reject_what_the_schema_rejects():
    with pytest.raises(msgspec.ValidationError, match="Object contains unknown field `colour`"):
        msgspec.convert({"id": "x", "colour": "red"}, SupportedModel)
    with pytest.raises(msgspec.ValidationError, match="Expected `int` >= 0"):
        msgspec.json.decode(
            b'{"pending": 0, "downloading": -1, "ready": 0, "failed": 0, "stalled": 0, "offline": 0}',
            type=__import__("generated.types", fromlist=["NodeCounts"]).NodeCounts,
        )
    with pytest.raises(msgspec.ValidationError, match="Expected `int` >= 0"):
        msgspec.json.decode(
            b'{"runtime_id": "n", "model_id": "m", "state": "ready", "bytes_done": -1, "bytes_total": 1,'
            b' "bytes_per_second": null, "eta_seconds": null, "stalled": false, "error": null,'
            b' "updated_at": "2026-01-01T00:00:00Z"}',
            type=__import__("generated.types", fromlist=["NodeModelDetail"]).NodeModelDetail,
        )


def test_hub_item_extends_the_catalog_fields():
    fields = set(HubItem.__struct_fields__)
    assert set(SupportedModel.__struct_fields__) <= fields
    assert {"status", "progress", "node_counts", "bytes_done", "bytes_total", "hf_info"} <= fields
    assert "nodes" not in fields  # a hub item does not grow with the number of nodes


def test_the_details_extend_the_hub_item_and_the_node():
    from generated.types import ModelDetail, Node, NodeDetail

    assert set(ModelDetail.__struct_fields__) == set(HubItem.__struct_fields__) | {"nodes"}
    assert set(NodeDetail.__struct_fields__) == set(Node.__struct_fields__) | {"models"}
    assert "synced" in Node.__struct_fields__


def test_lifecycle_tables_come_from_the_schema():
    schema = json.loads((ROOT / "schema/lifecycle.schema.json").read_text(encoding="utf-8"))
    edges = {(e["from"], e["to"]): e["on"] for e in schema["$defs"]["ModelStatus"]["x-transitions"]}
    assert {(a.value, b.value): on for (a, b), on in lifecycle.MODEL_STATUS_TRANSITIONS.items()} == edges
    assert lifecycle.MODEL_STATUS_TRANSITIONS[(ModelStatus.available, ModelStatus.registered)] == "register"
    assert (ModelStatus.available, ModelStatus.ready) not in lifecycle.MODEL_STATUS_TRANSITIONS
    assert (NodeStatus.offline, NodeStatus.online) in lifecycle.NODE_STATUS_TRANSITIONS
    assert (NodeStatus.offline, NodeStatus.registering) not in lifecycle.NODE_STATUS_TRANSITIONS
    assert (NodeStatus.online, NodeStatus.registering) not in lifecycle.NODE_STATUS_TRANSITIONS
    with pytest.raises(TypeError):
        lifecycle.NODE_STATUS_TRANSITIONS[(NodeStatus.pending, NodeStatus.online)] = "heartbeat"  # type: ignore[index]
