// Server-side renders of the views from a filled cache: the stable test hooks and the role rules.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createElement, type ReactElement } from "react";
import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { HubItem, Node, Role } from "@generated";
import { queryKeys } from "../api/queries";
import { EventStreamProvider } from "../live/EventStreamProvider";
import { HubView, matches } from "./HubView";
import { LocalView } from "./LocalView";
import { NodesView } from "./NodesView";

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
    nodes: [],
    hf_info: { downloads: 12_345, likes: 67, fetched_at: "2026-11-24T10:00:00Z", freshness: "fresh" },
    ...overrides,
  };
}

const HUB: HubItem[] = [
  item("a"),
  item("b", {
    status: "downloading",
    progress: 0.42,
    nodes: [{ runtime_id: "n1", state: "downloading", bytes_done: 42, bytes_total: 100, error: null }],
    hf_info: null,
  }),
  item("c", {
    status: "registered",
    nodes: [{ runtime_id: "n2", state: "failed", bytes_done: 0, bytes_total: 100, error: "disk full" }],
  }),
];

const NODES: Node[] = [
  {
    runtime_id: "n1",
    machine_name: "gpu-box",
    status: "pending",
    metrics: { cpu_usage: 0.25, memory_usage: 0.5, gpu_usage: 0.75, gpu_memory_used_bytes: 2_000_000_000 },
    gpu_memory_bytes: 8_000_000_000,
    metrics_stale: true,
    last_heartbeat_at: null,
  },
];

function render(view: (props: { role: Role }) => ReactElement, role: Role): string {
  const client = new QueryClient();
  client.setQueryData(queryKeys.hub, HUB);
  client.setQueryData(queryKeys.nodes, NODES);
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
  it("renders one labelled card per model with status, progress and HF stats", () => {
    const html = render((p) => createElement(HubView, p), "admin");
    expect(count(html, "<article")).toBe(3);
    expect(html).toContain('aria-label="Model a" data-model-id="a" data-status="available"');
    expect(html).toContain('data-model-id="b" data-status="downloading"');
    expect(html).toMatch(/role="progressbar"[^>]*aria-valuenow="42"/);
    expect(html).toContain("484 MB");
    expect(html).toContain("12.3K downloads");
    expect(html).toContain("no data");
    expect(count(html, ">Register</button>")).toBe(1); // only the available model
  });

  it("shows no Register button to a read-only user", () => {
    const html = render((p) => createElement(HubView, p), "read");
    expect(html).not.toContain("Register</button>");
  });

  it("filters on name, description and tags", () => {
    const a = item("a", { tags: ["vision"] });
    expect(matches(a, "VISION")).toBe(true);
    expect(matches(a, "about a")).toBe(true);
    expect(matches(a, "speech")).toBe(false);
  });
});

describe("Local view", () => {
  it("lists registered models with node states and Delete for admins only", () => {
    const admin = render((p) => createElement(LocalView, p), "admin");
    expect(count(admin, "<article")).toBe(2);
    expect(admin).not.toContain('data-model-id="a"');
    expect(admin).toContain('data-runtime-id="n1" data-state="downloading"');
    expect(admin).toContain("gpu-box"); // machine name from the nodes query
    expect(admin).toContain("disk full");
    expect(count(admin, ">Delete</button>")).toBe(2);
    const read = render((p) => createElement(LocalView, p), "read");
    expect(read).not.toContain("Delete</button>");
  });
});

describe("Nodes view", () => {
  it("renders node rows with metrics, the stale marker and Approve/Delete for admins only", () => {
    const admin = render((p) => createElement(NodesView, p), "admin");
    expect(admin).toContain('data-runtime-id="n1" data-status="pending"');
    expect(admin).toContain("25 %");
    expect(admin).toContain("75 %");
    expect(admin).toContain("2 GB of 8 GB");
    expect(admin).toContain(">stale</span>");
    expect(admin).toContain("never");
    expect(admin).toContain(">Approve</button>");
    expect(admin).toContain(">Delete</button>");
    const read = render((p) => createElement(NodesView, p), "read");
    expect(read).not.toMatch(/>(Approve|Delete)<\/button>/);
  });
});
