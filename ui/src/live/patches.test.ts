import { describe, expect, it } from "vitest";
import type { HubItem, ModelDetail, NodeModelChanged, NodeModelDetail } from "@generated";
import {
  countsText,
  EMPTY_COUNTS,
  hubProgress,
  markUnregistered,
  patchNodeModel,
  patchNodeStatus,
  replaceHubItem,
  replaceNode,
  sortRows,
} from "./patches";

function row(runtimeId: string, overrides: Partial<NodeModelDetail> = {}): NodeModelDetail {
  return {
    runtime_id: runtimeId,
    model_id: "m",
    state: "ready",
    bytes_done: 100,
    bytes_total: 100,
    bytes_per_second: null,
    eta_seconds: null,
    stalled: false,
    error: null,
    updated_at: "2026-11-24T10:00:00Z",
    ...overrides,
  };
}

function item(id: string, overrides: Partial<HubItem> = {}): HubItem {
  return {
    id,
    name: id,
    description: "",
    repo: `org/${id}`,
    recommended_filename: `${id}.gguf`,
    size_bytes: 1,
    required_memory_bytes: 1,
    tags: [],
    capabilities: [],
    format: "gguf",
    status: "ready",
    progress: null,
    node_counts: { ...EMPTY_COUNTS, ready: 2 },
    bytes_done: 0,
    bytes_total: 0,
    hf_info: null,
    ...overrides,
  };
}

const event = (overrides: Partial<NodeModelChanged>): NodeModelChanged => ({
  type: "NodeModelChanged",
  seq: 1,
  ts: "2026-11-24T10:01:00Z",
  model_id: "m",
  runtime_id: "n1",
  state: "downloading",
  bytes_done: 1,
  bytes_total: 2,
  bytes_per_second: 3,
  eta_seconds: 4,
  stalled: false,
  error: null,
  ...overrides,
});

describe("sortRows", () => {
  it("puts failed, then stalled, then downloading, pending and ready, each by runtime id", () => {
    const rows = [
      row("a-ready"),
      row("b-pending", { state: "pending" }),
      row("c-down", { state: "downloading" }),
      row("d-stalled", { state: "downloading", stalled: true }),
      row("e-failed", { state: "failed", error: "disk full" }),
      row("a-stalled", { state: "downloading", stalled: true }),
      row("a-failed", { state: "failed" }),
    ];
    expect(sortRows(rows).map((r) => r.runtime_id)).toEqual([
      "a-failed",
      "e-failed",
      "a-stalled",
      "d-stalled",
      "c-down",
      "b-pending",
      "a-ready",
    ]);
    expect(rows[0]?.runtime_id).toBe("a-ready"); // the input is not sorted in place
  });

  it("sorts a node's reports by model id when asked", () => {
    const reports = [row("n", { model_id: "z" }), row("n", { model_id: "a" }), row("n", { model_id: "q", state: "failed" })];
    expect(sortRows(reports, "model_id").map((r) => r.model_id)).toEqual(["q", "a", "z"]);
  });
});

describe("patchNodeModel", () => {
  const detail: ModelDetail = { ...item("m"), nodes: [row("n1"), row("n2")] };

  it("replaces the node's row with the event's fields and its ts as updated_at", () => {
    const next = patchNodeModel(detail, event({ stalled: true }));
    expect(next.nodes[0]).toEqual({
      runtime_id: "n1",
      model_id: "m",
      state: "downloading",
      bytes_done: 1,
      bytes_total: 2,
      bytes_per_second: 3,
      eta_seconds: 4,
      stalled: true,
      error: null,
      updated_at: "2026-11-24T10:01:00Z",
    });
    expect(next.nodes[1]).toBe(detail.nodes[1]);
    expect(detail.nodes[0]?.state).toBe("ready"); // not mutated
  });

  it("adds a new node's row, removes a row on state null, and ignores other models", () => {
    expect(patchNodeModel(detail, event({ runtime_id: "n3" })).nodes.map((r) => r.runtime_id)).toEqual(["n1", "n2", "n3"]);
    expect(patchNodeModel(detail, event({ state: null })).nodes.map((r) => r.runtime_id)).toEqual(["n2"]);
    expect(patchNodeModel(detail, event({ runtime_id: "n9", state: null })).nodes).toHaveLength(2);
    expect(patchNodeModel(detail, event({ model_id: "other" }))).toBe(detail);
  });
});

describe("hub patches", () => {
  it("markUnregistered resets status, progress, counts and bytes of that model only", () => {
    const items = [item("a", { status: "downloading", progress: 0.5, bytes_done: 5, bytes_total: 10 }), item("b")];
    const next = markUnregistered(items, "a");
    expect(next[0]).toMatchObject({ status: "available", progress: null, node_counts: EMPTY_COUNTS, bytes_done: 0 });
    expect(next[1]).toBe(items[1]);
  });

  it("replaceHubItem swaps in a register answer", () => {
    const registered = item("a", { status: "registered" });
    expect(replaceHubItem([item("a", { status: "available" }), item("b")], registered)[0]).toBe(registered);
  });

  it("hubProgress uses the summed bytes, else the server's progress", () => {
    expect(hubProgress({ progress: 0.1, bytes_done: 30, bytes_total: 120 })).toBe(0.25);
    expect(hubProgress({ progress: 0.1, bytes_done: 0, bytes_total: 0 })).toBe(0.1);
    expect(hubProgress({ progress: null, bytes_done: 0, bytes_total: 0 })).toBeNull();
  });

  it("countsText lists the non-zero counts", () => {
    expect(countsText({ ...EMPTY_COUNTS, ready: 2, downloading: 1, stalled: 1 })).toBe("2 ready · 1 downloading · 1 stalled");
    expect(countsText(EMPTY_COUNTS)).toBe("");
  });
});

describe("patchNodeStatus", () => {
  it("applies status and synced, and leaves other nodes alone", () => {
    const nodes = [
      { runtime_id: "n1", machine_name: "a", status: "online", synced: true, metrics: {}, metrics_stale: false, last_heartbeat_at: null },
      { runtime_id: "n2", machine_name: "b", status: "online", synced: true, metrics: {}, metrics_stale: false, last_heartbeat_at: null },
    ] as const;
    const next = patchNodeStatus(nodes, { runtime_id: "n1", status: "online", synced: false });
    expect(next?.map((n) => n.synced)).toEqual([false, true]);
    expect(next?.[1]).toBe(nodes[1]);
  });
});

describe("replaceNode", () => {
  const node = { runtime_id: "n1", machine_name: "a", synced: false, metrics: {}, metrics_stale: false, last_heartbeat_at: null };
  it("takes the approve answer over a pending node", () => {
    const next = replaceNode([{ ...node, status: "pending" }], { ...node, status: "registering" });
    expect(next[0]?.status).toBe("registering");
  });
  it("keeps a status the socket brought while the answer was on its way", () => {
    const next = replaceNode([{ ...node, status: "online" }], { ...node, status: "registering" });
    expect(next[0]?.status).toBe("online");
  });
});
