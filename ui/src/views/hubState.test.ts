// The Model Hub's URL state, filter and sort: pure functions.
import { describe, expect, it } from "vitest";
import type { HubItem } from "@generated";
import { EMPTY_COUNTS } from "../live/patches";
import {
  DEFAULT_HUB_STATE,
  describeFilter,
  filterAndSort,
  parseHubState,
  serializeHubState,
} from "./hubState";

function item(id: string, overrides: Partial<HubItem> = {}): HubItem {
  return {
    id,
    name: `Model ${id}`,
    description: `About ${id}`,
    repo: `org/${id}`,
    recommended_filename: `${id}.gguf`,
    size_bytes: 1000,
    required_memory_bytes: 2000,
    tags: [],
    capabilities: ["TextGeneration"],
    format: "gguf",
    status: "available",
    progress: null,
    node_counts: EMPTY_COUNTS,
    bytes_done: 0,
    bytes_total: 0,
    hf_info: null,
    ...overrides,
  };
}

const hf = (downloads: number): HubItem["hf_info"] => ({
  downloads,
  likes: 0,
  fetched_at: "2026-11-24T10:00:00Z",
  freshness: "fresh",
});

describe("parseHubState / serializeHubState", () => {
  it("reads every field and falls back to the defaults", () => {
    expect(parseHubState("")).toEqual(DEFAULT_HUB_STATE);
    expect(parseHubState("?q=qwen+3&status=ready&sort=downloads")).toEqual({
      q: "qwen 3",
      status: "ready",
      sort: "downloads",
    });
    expect(parseHubState("?status=bogus&sort=nope&other=1")).toEqual(DEFAULT_HUB_STATE);
  });

  it("leaves the defaults out and round-trips", () => {
    expect(serializeHubState(DEFAULT_HUB_STATE)).toBe("");
    expect(serializeHubState({ ...DEFAULT_HUB_STATE, q: "  " })).toBe("");
    expect(serializeHubState({ q: "", status: "downloading", sort: "name" })).toBe("?status=downloading");
    const state = { q: "a&b=c é", status: "registered", sort: "size" } as const;
    expect(parseHubState(serializeHubState(state))).toEqual(state);
  });

  it("names the search and the filter", () => {
    expect(describeFilter({ q: " qwen ", status: "all" })).toBe("“qwen”");
    expect(describeFilter({ q: "qwen", status: "ready" })).toBe("“qwen” and status ready");
    expect(describeFilter({ q: "", status: "available" })).toBe("status available");
  });
});

describe("filterAndSort", () => {
  const items = [
    item("c", { name: "Charlie", status: "available", size_bytes: 3, hf_info: hf(10) }),
    item("a", { name: "alpha", status: "downloading", size_bytes: 2, hf_info: null }),
    item("b", { name: "Bravo", status: "ready", size_bytes: 1, hf_info: hf(500), tags: ["vision"] }),
    item("d", { name: "Delta", status: "registered", size_bytes: 2, hf_info: hf(10) }),
  ];
  const ids = (state: Partial<typeof DEFAULT_HUB_STATE>) =>
    filterAndSort(items, { ...DEFAULT_HUB_STATE, ...state }).map((entry) => entry.id);

  it("sorts by name (case-insensitive), status, downloads and size, ties by name", () => {
    expect(ids({})).toEqual(["a", "b", "c", "d"]);
    expect(ids({ sort: "status" })).toEqual(["b", "a", "d", "c"]);
    expect(ids({ sort: "downloads" })).toEqual(["b", "c", "d", "a"]); // no stats last
    expect(ids({ sort: "size" })).toEqual(["b", "a", "d", "c"]);
  });

  it("filters on status and search together and leaves its input alone", () => {
    expect(ids({ status: "ready" })).toEqual(["b"]);
    expect(ids({ q: "VISION" })).toEqual(["b"]);
    expect(ids({ q: "vision", status: "available" })).toEqual([]);
    expect(items.map((entry) => entry.id)).toEqual(["c", "a", "b", "d"]);
  });
});
