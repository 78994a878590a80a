// Per-resource queryOptions factories and mutation functions. Keys go from general to specific:
// ['session'], ['models', 'hub'], ['models', 'detail', id], ['nodes'], ['nodes', 'detail', id] —
// invalidating ['models'] refreshes every model query, ['nodes'] every node query.
// The event stream (live/cache.ts) takes its keys from these factories, so they are defined once.
import { queryOptions } from "@tanstack/react-query";
import type { HubItem, ModelDetail, Node, NodeDetail, OrphanedRegistration, Session } from "@generated";
import { apiFetch } from "./client";

export const queryKeys = {
  session: ["session"] as const,
  models: ["models"] as const,
  hub: ["models", "hub"] as const,
  orphaned: ["models", "orphaned"] as const,
  modelDetail: (modelId: string) => ["models", "detail", modelId] as const,
  nodes: ["nodes"] as const,
  nodeDetail: (runtimeId: string) => ["nodes", "detail", runtimeId] as const,
};

/** While the event stream is live the cache is kept current by events; otherwise poll every 10 s. */
export function pollInterval(live: boolean): number | false {
  return live ? false : 10_000;
}

export const sessionQuery = () =>
  queryOptions({
    queryKey: queryKeys.session,
    // POST: the answer also sets this browser's WebSocket cookie (the server's, HttpOnly), before any view opens a socket
    queryFn: ({ signal }) => apiFetch<Session>("/v0/session", { method: "POST", signal }),
    staleTime: Infinity,
    retry: false,
  });

export const hubQuery = (live: boolean) =>
  queryOptions({
    queryKey: queryKeys.hub,
    queryFn: ({ signal }) => apiFetch<HubItem[]>("/v0/models/hub", { signal }),
    refetchInterval: pollInterval(live),
  });

/** Registered models a catalog release removed (GET /v0/models/orphaned); no event changes them, so polled. */
export const orphanedQuery = () =>
  queryOptions({
    queryKey: queryKeys.orphaned,
    queryFn: ({ signal }) => apiFetch<OrphanedRegistration[]>("/v0/models/orphaned", { signal }),
    refetchInterval: 60_000,
  });

/** One model with every node's report (GET /v0/models/{id}); kept current by the model:<id> topic. */
export const modelDetailQuery = (modelId: string, live: boolean) =>
  queryOptions({
    queryKey: queryKeys.modelDetail(modelId),
    queryFn: ({ signal }) => apiFetch<ModelDetail>(`/v0/models/${encodeURIComponent(modelId)}`, { signal }),
    refetchInterval: pollInterval(live),
  });

export const nodesQuery = (live: boolean) =>
  queryOptions({
    queryKey: queryKeys.nodes,
    queryFn: ({ signal }) => apiFetch<Node[]>("/v0/nodes", { signal }),
    refetchInterval: pollInterval(live),
  });

/** One node with its report on each model (GET /v0/nodes/{id}); kept current by the node:<id> topic. */
export const nodeDetailQuery = (runtimeId: string, live: boolean) =>
  queryOptions({
    queryKey: queryKeys.nodeDetail(runtimeId),
    queryFn: ({ signal }) => apiFetch<NodeDetail>(`/v0/nodes/${encodeURIComponent(runtimeId)}`, { signal }),
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
