// The Model Hub's search, status filter and sort: pure parse/serialize of the query string
// (`?q=qwen&status=ready&sort=downloads`, defaults left out), the filter and the sort,
// and the hook that keeps them in the URL (reload and share keep them; Back steps through them).
import { useCallback, useEffect, useState } from "react";
import type { HubItem, ModelStatus } from "@generated";

export type StatusFilter = "all" | ModelStatus;
export type SortKey = "name" | "status" | "downloads" | "size";

export interface HubState {
  readonly q: string;
  readonly status: StatusFilter;
  readonly sort: SortKey;
}

export const DEFAULT_HUB_STATE: HubState = { q: "", status: "all", sort: "name" };

/** The status filter's choices, in the order a model goes through them (most useful first). */
export const STATUS_FILTERS: ReadonlyArray<{ readonly value: StatusFilter; readonly label: string }> = [
  { value: "all", label: "All" },
  { value: "ready", label: "Ready" },
  { value: "downloading", label: "Downloading" },
  { value: "registered", label: "Registered" },
  { value: "available", label: "Available" },
];

export const SORT_KEYS: ReadonlyArray<{ readonly value: SortKey; readonly label: string }> = [
  { value: "name", label: "Name (A–Z)" },
  { value: "status", label: "Status (ready first)" },
  { value: "downloads", label: "Downloads (most first)" },
  { value: "size", label: "Size (smallest first)" },
];

function oneOf<T extends string>(value: string | null, choices: ReadonlyArray<{ readonly value: T }>, fallback: T): T {
  return choices.find((choice) => choice.value === value)?.value ?? fallback;
}

/** The state a query string describes; unknown or missing values are the defaults. */
export function parseHubState(search: string): HubState {
  const params = new URLSearchParams(search);
  return {
    q: params.get("q") ?? "",
    status: oneOf(params.get("status"), STATUS_FILTERS, DEFAULT_HUB_STATE.status),
    sort: oneOf(params.get("sort"), SORT_KEYS, DEFAULT_HUB_STATE.sort),
  };
}

/** "?q=…&status=…&sort=…" with the defaults left out; "" for the default state. */
export function serializeHubState(state: HubState): string {
  const params = new URLSearchParams();
  if (state.q.trim() !== "") params.set("q", state.q);
  if (state.status !== DEFAULT_HUB_STATE.status) params.set("status", state.status);
  if (state.sort !== DEFAULT_HUB_STATE.sort) params.set("sort", state.sort);
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/** Every word of `query` occurs in the item's name, description, id or tags (case-insensitive). */
export function matches(item: HubItem, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [item.name, item.description, item.id, ...item.tags].join(" ").toLowerCase();
  return words.every((word) => haystack.includes(word));
}

const STATUS_RANK: Record<ModelStatus, number> = { ready: 0, downloading: 1, registered: 2, available: 3 };

const byName = (a: HubItem, b: HubItem) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const COMPARE: Record<SortKey, (a: HubItem, b: HubItem) => number> = {
  name: byName,
  status: (a, b) => STATUS_RANK[a.status] - STATUS_RANK[b.status] || byName(a, b),
  // Models without Hugging Face stats go last.
  downloads: (a, b) => (b.hf_info?.downloads ?? -1) - (a.hf_info?.downloads ?? -1) || byName(a, b),
  size: (a, b) => a.size_bytes - b.size_bytes || byName(a, b),
};

/** The items the search and the status filter keep, in the chosen order (a new array). */
export function filterAndSort(items: ReadonlyArray<HubItem>, state: HubState): HubItem[] {
  return items
    .filter((item) => (state.status === "all" || item.status === state.status) && matches(item, state.q))
    .sort(COMPARE[state.sort]);
}

/** "“qwen” and status ready" — what the empty-result message names. */
export function describeFilter(state: Pick<HubState, "q" | "status">): string {
  const parts: string[] = [];
  if (state.q.trim() !== "") parts.push(`“${state.q.trim()}”`);
  if (state.status !== "all") parts.push(`status ${state.status}`);
  return parts.join(" and ");
}

/** The page's query string; "" where there is no page (server-side renders in the unit tests). */
function currentSearch(): string {
  return typeof location === "undefined" ? "" : location.search;
}

/**
 * The hub state kept in the query string. Filter and sort changes push a history entry (Back undoes
 * them); typing in the search box replaces the current one, so Back does not step through keystrokes.
 */
export function useHubState(): [HubState, (next: Partial<HubState>, mode?: "push" | "replace") => void] {
  const [state, setState] = useState<HubState>(() => parseHubState(currentSearch()));
  useEffect(() => {
    const onPop = () => setState(parseHubState(location.search));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const update = useCallback(
    (patch: Partial<HubState>, mode: "push" | "replace" = "push") => {
      const next = { ...state, ...patch };
      const url = `${location.pathname}${serializeHubState(next)}${location.hash}`;
      if (url !== `${location.pathname}${location.search}${location.hash}`) {
        if (mode === "push") history.pushState(null, "", url);
        else history.replaceState(null, "", url);
      }
      setState(next);
    },
    [state],
  );
  return [state, update];
}
