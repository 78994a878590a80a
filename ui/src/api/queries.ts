// Per-resource queryOptions factories and mutation functions. Keys go from general to specific:
// ['session'], ['models', 'hub'], ['nodes'] — invalidating ['models'] refreshes every model query.
import { queryOptions } from "@tanstack/react-query";
import type { HubItem, Node, Session } from "@generated";
import { apiFetch } from "./client";

export const queryKeys = {
  session: ["session"] as const,
  models: ["models"] as const,
  hub: ["models", "hub"] as const,
  nodes: ["nodes"] as const,
};

/** While the event stream is live the cache is kept current by events; otherwise poll every 10 s. */
export function pollInterval(live: boolean): number | false {
  return live ? false : 10_000;
}

export const sessionQuery = () =>
  queryOptions({
    queryKey: queryKeys.session,
    queryFn: ({ signal }) => apiFetch<Session>("/v0/session", { signal }),
    staleTime: Infinity,
    retry: false,
  });

export const hubQuery = (live: boolean) =>
  queryOptions({
    queryKey: queryKeys.hub,
    queryFn: ({ signal }) => apiFetch<HubItem[]>("/v0/models/hub", { signal }),
    refetchInterval: pollInterval(live),
  });

export const nodesQuery = (live: boolean) =>
  queryOptions({
    queryKey: queryKeys.nodes,
    queryFn: ({ signal }) => apiFetch<Node[]>("/v0/nodes", { signal }),
    refetchInterval: pollInterval(live),
  });

export const registerModel = (modelId: string) =>
  apiFetch<HubItem>("/v0/models/register", { method: "POST", body: { model_id: modelId } });

export const deleteModel = (modelId: string) =>
  apiFetch<undefined>(`/v0/models/${encodeURIComponent(modelId)}`, { method: "DELETE" });

export const approveNode = (runtimeId: string) =>
  apiFetch<Node>(`/v0/nodes/${encodeURIComponent(runtimeId)}/approve`, { method: "POST" });

export const deleteNode = (runtimeId: string) =>
  apiFetch<undefined>(`/v0/nodes/${encodeURIComponent(runtimeId)}`, { method: "DELETE" });
