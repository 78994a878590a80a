"""generated/typescript compiles under tsc --strict, and its types catch misuse."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ROOT, node_tool

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.node

GOOD_USE = """\
import { CATALOG, CATALOG_VERSION, MODEL_STATUS_TRANSITIONS } from "./index";
import type { HubItem, ModelStatus, ServerFrame } from "./index";

export const version: string = CATALOG_VERSION;
export const ids: ReadonlyArray<string> = CATALOG.map((model) => model.id);
export const legal = (from: ModelStatus, to: ModelStatus): boolean =>
  MODEL_STATUS_TRANSITIONS.some((edge) => edge.from === from && edge.to === to);
export function label(item: HubItem): string {
  const percent = item.progress === null ? "" : ` ${Math.round(item.progress * 100)}%`;
  return `${item.name}: ${item.status}${percent}`;
}
export function describe(frame: ServerFrame): string {
  switch (frame.type) {
    case "ModelStatusChanged": return `${frame.model_id} ${frame.node_counts.ready}/${frame.bytes_total}`;
    case "NodeModelChanged": return `${frame.model_id}@${frame.runtime_id}${frame.stalled ? " stalled" : ""}`;
    case "NodeStatusChanged": return `${frame.machine_name}${frame.synced ? "" : " syncing"}`;
    case "HfStatsUpdated": return frame.hf_info === null ? frame.model_id : frame.hf_info.freshness;
    case "MetricsUpdated": return frame.runtime_id;
    case "Subscribed": return frame.topics.join(",");
    case "Snapshot": return frame.topic;
    case "ResyncRequired": case "Heartbeat": case "Pong": return frame.type;
    case "Error": return frame.message;
    default: { const unreachable: never = frame; return unreachable; }
  }
}
"""

MISUSES = {
    "bad-status-literal": (
        'import type { ModelStatus } from "./index";\nexport const s: ModelStatus = "deleted";\n',
        "TS2322",
    ),
    "mutate-readonly-field": ('import { CATALOG } from "./index";\nCATALOG[0]!.size_bytes = 1;\n', "TS2540"),
    "push-readonly-array": ('import { CATALOG } from "./index";\nCATALOG[0]!.tags.push("x");\n', "TS2339"),
    "unknown-property": (
        'import type { HfInfo } from "./index";\n'
        'export const h: HfInfo = { downloads: 1, likes: 2, fetched_at: null, freshness: "fresh", '
        "stars: 3 };\n",
        "TS2353",
    ),
    "non-exhaustive-switch": (GOOD_USE.replace('    case "Error": return frame.message;\n', ""), "TS2322"),
    "hub-item-has-no-node-list": (
        'import type { HubItem } from "./index";\nexport const n = (item: HubItem) => item.nodes;\n',
        "TS2339",
    ),
}


def _tsc(directory: Path, *files: str) -> subprocess.CompletedProcess[str]:
    tsc = node_tool("tsc")
    return subprocess.run(
        [
            str(tsc),
            "--strict",
            "--noEmit",
            "--target",
            "ES2022",
            "--module",
            "ESNext",
            "--moduleResolution",
            "Bundler",
            "--exactOptionalPropertyTypes",
            "--noUncheckedIndexedAccess",
            *files,
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def ts_dir(small_files, tmp_path):
    for relative, text in small_files.items():
        if relative.startswith("typescript/"):
            (tmp_path / relative.removeprefix("typescript/")).write_text(text, encoding="utf-8")
    return tmp_path


def test_generated_typescript_and_correct_use_compile(ts_dir):
    (ts_dir / "use.ts").write_text(GOOD_USE, encoding="utf-8")
    result = _tsc(ts_dir, "index.ts", "use.ts")
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("case", sorted(MISUSES))
def test_misuse_fails_to_compile(ts_dir, case):
    source, code = MISUSES[case]
    (ts_dir / "misuse.ts").write_text(source, encoding="utf-8")
    result = _tsc(ts_dir, "misuse.ts")
    assert result.returncode != 0
    assert "misuse.ts(" in result.stdout
    assert code in result.stdout, result.stdout


def test_committed_generated_typescript_compiles():
    result = _tsc(ROOT / "generated" / "typescript", "index.ts")
    assert result.returncode == 0, result.stdout
