// Server-side renders of the views from a filled cache: the stable test hooks and the role rules.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createElement, type ReactElement } from "react";
import { renderToString } from "react-dom/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { HubItem, ModelDetail, Node, NodeModelDetail, Role } from "@generated";
import { queryKeys } from "../api/queries";
import { EventStreamProvider } from "../live/EventStreamProvider";
import { EMPTY_COUNTS } from "../live/patches";
import { HubView } from "./HubView";
import { matches } from "./hubState";
import { LocalView, ModelNodes, nodeMap, PAGE_SIZE } from "./LocalView";
import { NodesView, readyText } from "./NodesView";

function item(id: string, overrides: Partial<HubItem> = {}): HubItem {
  return {
    id,
    name: `Model ${id}`,
    description: `About ${id}`,
    repo: `org/${id}`,
    recommended_filename: `${id}.gguf`,
    size_bytes: 484_220_320,
    required_memory_bytes: 726_330_480,
    tags: ["chat", "compact"],
    capabilities: ["TextGeneration"],
    format: "gguf",
    quantization: "Q4_K_M",
    context_length: 40960,
    status: "available",
    progress: null,
    node_counts: EMPTY_COUNTS,
    bytes_done: 0,
    bytes_total: 0,
    hf_info: { downloads: 12_345, likes: 67, fetched_at: "2026-11-24T10:00:00Z", freshness: "fresh" },
    ...overrides,
  };
}

const HUB: HubItem[] = [
  item("a"),
  item("b", {
    status: "downloading",
    progress: 0.1,
    node_counts: { ...EMPTY_COUNTS, ready: 2, downloading: 1, stalled: 1 },
    bytes_done: 42,
    bytes_total: 100,
    hf_info: null,
  }),
  item("c", {
    status: "registered",
    node_counts: { ...EMPTY_COUNTS, failed: 1 },
  }),
];

function row(runtimeId: string, overrides: Partial<NodeModelDetail> = {}): NodeModelDetail {
  return {
    runtime_id: runtimeId,
    model_id: "b",
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

const NODES: Node[] = [
  {
    runtime_id: "n1",
    machine_name: "gpu-box",
    status: "pending",
    synced: false,
    metrics: { cpu_usage: 0.25, memory_usage: 0.5, gpu_usage: 0.75, gpu_memory_used_bytes: 2_000_000_000 },
    gpu_memory_bytes: 8_000_000_000,
    metrics_stale: true,
    last_heartbeat_at: null,
  },
];

function render(view: (props: { role: Role }) => ReactElement, role: Role, fill?: (client: QueryClient) => void): string {
  const client = new QueryClient();
  client.setQueryData(queryKeys.hub, HUB);
  client.setQueryData(queryKeys.nodes, NODES);
  fill?.(client);
  return renderToString(
    createElement(
      QueryClientProvider,
      { client },
      createElement(EventStreamProvider, { onAuthFailure: () => {}, children: view({ role }) }),
    ),
  );
}

const count = (html: string, text: string) => html.split(text).length - 1;

describe("Model Hub view", () => {
  it("renders one labelled card per model with status, progress from bytes, counts and HF stats", () => {
    const html = render((p) => createElement(HubView, p), "admin");
    expect(count(html, "<article")).toBe(3);
    expect(html).toContain('aria-label="Model a" data-model-id="a" data-status="available"');
    expect(html).toContain('data-model-id="b" data-status="downloading"');
    expect(html).toMatch(/role="progressbar"[^>]*aria-valuenow="42"/); // 42 of 100 bytes
    expect(html).toContain("2 ready · 1 downloading · 1 stalled");
    expect(html).toContain('data-badge="stalled"');
    expect(count(html, 'data-testid="stalled-count"')).toBe(1); // only b has a stalled node
    expect(html).toContain("484 MB");
    expect(html).toContain("12.3K downloads");
    expect(html).toContain("no data");
    expect(count(html, ">Register</button>")).toBe(1); // only the available model
    expect(count(html, ">Unregister</button>")).toBe(2); // the registered and the downloading one
    expect(html).toContain("1 failed"); // node counts of the registered model
    expect(html).toContain('<label for="');
    expect(html).toMatch(/<select[^>]*>.*<option value="ready">Ready<\/option>/);
    expect(html).not.toContain('data-testid="no-match"');
  });

  it("shows no Register or Unregister button to a read-only user", () => {
    const html = render((p) => createElement(HubView, p), "read");
    expect(html).not.toContain("Register</button>");
    expect(html).not.toContain("Unregister</button>");
  });

  describe("with a query string", () => {
    afterEach(() => vi.unstubAllGlobals());
    const at = (search: string) => vi.stubGlobal("location", { pathname: "/", search, hash: "" });

    it("filters and sorts from the URL", () => {
      at("?status=registered");
      const html = render((p) => createElement(HubView, p), "admin");
      expect(count(html, "<article")).toBe(1);
      expect(html).toContain('data-model-id="c"');
      expect(html).toContain("1 of 3 models");
      at("?sort=status");
      const sorted = render((p) => createElement(HubView, p), "admin");
      expect([...sorted.matchAll(/data-model-id="([^"]+)"/g)].map((m) => m[1])).toEqual(["b", "c", "a"]);
    });

    it("says what matched nothing and offers to clear it", () => {
      at("?q=nothing-like-this&status=ready");
      const html = render((p) => createElement(HubView, p), "admin");
      expect(count(html, "<article")).toBe(0);
      expect(html).toContain('data-testid="no-match"');
      expect(html).toContain("No model matches “nothing-like-this” and status ready.");
      expect(html).toContain(">Clear search and filter</button>");
    });
  });

  it("filters on name, description and tags", () => {
    const a = item("a", { tags: ["vision"] });
    expect(matches(a, "VISION")).toBe(true);
    expect(matches(a, "about a")).toBe(true);
    expect(matches(a, "speech")).toBe(false);
  });
});

describe("Local view", () => {
  it("lists registered models with their node counts and Delete for admins only", () => {
    const admin = render((p) => createElement(LocalView, p), "admin");
    expect(count(admin, "<article")).toBe(2);
    expect(admin).not.toContain('data-model-id="a"');
    expect(admin).toContain("2 ready · 1 downloading · 1 stalled");
    expect(admin).toContain("1 failed");
    expect(count(admin, ">Show nodes</button>")).toBe(2);
    expect(admin).not.toContain("data-runtime-id"); // rows load only when shown
    expect(count(admin, ">Delete</button>")).toBe(2);
    const read = render((p) => createElement(LocalView, p), "read");
    expect(read).not.toContain("Delete</button>");
  });

  const model = HUB[1] as HubItem;
  const known = nodeMap([
    { ...(NODES[0] as Node), status: "online" },
    { ...(NODES[0] as Node), runtime_id: "n2", machine_name: "box-2", status: "offline" },
  ]);
  const renderRows = (nodes: NodeModelDetail[]) =>
    render(
      () => createElement(ModelNodes, { item: model, nodes: known }),
      "admin",
      (client) => client.setQueryData<ModelDetail>(queryKeys.modelDetail("b"), { ...model, nodes }),
    );

  it("shows the per-node rows of a shown model, failed and stalled first, with speed, ETA and errors", () => {
    const html = renderRows([
      row("n1"),
      row("n2", { state: "downloading", bytes_done: 42, bytes_per_second: 12_300_000, eta_seconds: 200 }),
      row("n3", { state: "downloading", stalled: true, bytes_done: 10, bytes_per_second: 0 }),
      row("n4", { state: "failed", error: "disk full" }),
    ]);
    const order = [...html.matchAll(/data-runtime-id="([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual(["n4", "n3", "n2", "n1"]);
    expect(html).toContain('data-runtime-id="n3" data-state="downloading" data-stalled="true"');
    expect(html).toContain('data-runtime-id="n1" data-state="ready" data-stalled="false"');
    expect(html).toContain("gpu-box"); // machine name from the nodes query
    expect(html).toContain("disk full");
    expect(html).toContain("12.3 MB/s");
    expect(html).toContain("ETA 3 min 20 s");
    expect(html).toContain('data-badge="stalled"');
    expect(html).toContain("4 nodes");
  });

  it("marks the rows of offline nodes", () => {
    const html = renderRows([row("n1"), row("n2"), row("n9")]);
    expect(html).toContain('data-runtime-id="n2" data-state="ready" data-stalled="false" data-offline="true"');
    expect(html).toContain('data-runtime-id="n1" data-state="ready" data-stalled="false" data-offline="false"');
    expect(html).toContain('data-runtime-id="n9" data-state="ready" data-stalled="false" data-offline="false"'); // unknown node
    expect(count(html, 'data-testid="node-offline"')).toBe(1);
    expect(html).toContain(">node offline</span>");
  });

  it("renders only the first page of 1,000 rows, with Show more", () => {
    const rows = Array.from({ length: 1000 }, (_, i) => row(`node-${String(i).padStart(4, "0")}`));
    const html = renderRows(rows);
    expect(count(html, "data-runtime-id=")).toBe(PAGE_SIZE);
    expect(html).toContain(`Showing ${PAGE_SIZE} of 1000 nodes`);
    expect(html).toContain(">Show more</button>");
  });
});

describe("Nodes view", () => {
  it("renders node rows with metrics, the stale marker and Approve/Delete for admins only", () => {
    const admin = render((p) => createElement(NodesView, p), "admin");
    expect(admin).toContain('data-runtime-id="n1" data-status="pending" data-synced="false"');
    expect(admin).toContain(">not synced</span>");
    expect(admin).toContain(">Show models</button>");
    expect(admin).toContain("25 %");
    expect(admin).toContain("75 %");
    expect(admin).toContain("2 GB of 8 GB");
    expect(admin).toContain(">Approve</button>");
    expect(admin).toContain(">Delete</button>");
    const read = render((p) => createElement(NodesView, p), "read");
    expect(read).not.toMatch(/>(Approve|Delete)<\/button>/);
  });

  it("says a pending node waits for approval instead of showing a stale, never-seen heartbeat", () => {
    const stale: Node = { ...(NODES[0] as Node), runtime_id: "n2", machine_name: "old-box", status: "offline" };
    const html = render(
      (p) => createElement(NodesView, p),
      "read",
      (client) => client.setQueryData(queryKeys.nodes, [...NODES, stale]),
    );
    expect(count(html, 'data-testid="waiting-approval"')).toBe(1);
    expect(html).toContain("Waiting for approval — retrying");
    // Only the offline node has the stale marker and the heartbeat line.
    expect(count(html, ">stale</span>")).toBe(1);
    expect(count(html, "Last heartbeat: never")).toBe(1);
  });
});

describe("readyText", () => {
  it("counts the ready reports of a node", () => {
    expect(readyText({ models: [row("n1"), row("n1", { model_id: "x", state: "downloading" }), row("n1", { model_id: "y" })] })).toBe(
      "2 of 3 models ready",
    );
  });
});
