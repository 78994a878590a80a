// Pure cache updates, shared by the event stream (live/cache.ts) and the views' mutations.
// Each takes what the cache holds and returns the next value; items that do not change keep their identity.
// They copy only the fields they know from an event, so unknown fields of a frame never reach the cache.
import type {
  HfStatsUpdated,
  HubItem,
  MetricsState,
  ModelDetail,
  ModelStatusChanged,
  Node,
  NodeCounts,
  NodeDetail,
  NodeModelChanged,
  NodeModelDetail,
  NodeStatusChanged,
} from "@generated";

export const EMPTY_COUNTS: NodeCounts = { pending: 0, downloading: 0, ready: 0, failed: 0, stalled: 0, offline: 0 };

/** The lifecycle fields of a hub item that ModelStatusChanged carries. */
export type ModelLifecycle = Pick<
  ModelStatusChanged,
  "model_id" | "status" | "progress" | "node_counts" | "bytes_done" | "bytes_total"
>;

function lifecycleOf(event: ModelLifecycle) {
  return {
    status: event.status,
    progress: event.progress,
    node_counts: event.node_counts,
    bytes_done: event.bytes_done,
    bytes_total: event.bytes_total,
  };
}

/** The hub list with one item's lifecycle fields replaced; null when the model is not in the list. */
export function patchModel(items: ReadonlyArray<HubItem>, event: ModelLifecycle): HubItem[] | null {
  let found = false;
  const next = items.map((item) => {
    if (item.id !== event.model_id) return item;
    found = true;
    return { ...item, ...lifecycleOf(event) };
  });
  return found ? next : null;
}

/** A model's detail with its lifecycle fields replaced (unchanged when it is another model's). */
export function patchModelDetail(detail: ModelDetail, event: ModelLifecycle): ModelDetail {
  return detail.id === event.model_id ? { ...detail, ...lifecycleOf(event) } : detail;
}

/** The hub list with one item's hf_info replaced; null when the model is not in the list. */
export function patchHfStats(
  items: ReadonlyArray<HubItem>,
  event: Pick<HfStatsUpdated, "model_id" | "hf_info">,
): HubItem[] | null {
  let found = false;
  const next = items.map((item) => {
    if (item.id !== event.model_id) return item;
    found = true;
    return { ...item, hf_info: event.hf_info };
  });
  return found ? next : null;
}

export function patchDetailHfStats(detail: ModelDetail, event: Pick<HfStatsUpdated, "model_id" | "hf_info">): ModelDetail {
  return detail.id === event.model_id ? { ...detail, hf_info: event.hf_info } : detail;
}

/** The hub list with `item` in place of the item of the same id (a register answer). */
export function replaceHubItem(items: ReadonlyArray<HubItem>, item: HubItem): HubItem[] {
  return items.map((old) => (old.id === item.id ? item : old));
}

/** The hub list after a model was deleted: available, no progress, no reports. */
export function markUnregistered(items: ReadonlyArray<HubItem>, modelId: string): HubItem[] {
  return items.map((item) =>
    item.id === modelId
      ? { ...item, status: "available", progress: null, node_counts: EMPTY_COUNTS, bytes_done: 0, bytes_total: 0 }
      : item,
  );
}

/** The row a NodeModelChanged describes, or null when the report is gone. */
function rowOf(event: NodeModelChanged): NodeModelDetail | null {
  if (event.state === null) return null;
  return {
    runtime_id: event.runtime_id,
    model_id: event.model_id,
    state: event.state,
    bytes_done: event.bytes_done,
    bytes_total: event.bytes_total,
    bytes_per_second: event.bytes_per_second,
    eta_seconds: event.eta_seconds,
    stalled: event.stalled,
    error: event.error,
    updated_at: event.ts,
  };
}

/** Replace, add or (row null) remove the row matching `same`. */
function upsertRow(
  rows: ReadonlyArray<NodeModelDetail>,
  row: NodeModelDetail | null,
  same: (old: NodeModelDetail) => boolean,
): NodeModelDetail[] {
  const index = rows.findIndex(same);
  if (row === null) return index === -1 ? [...rows] : rows.filter((_, i) => i !== index);
  if (index === -1) return [...rows, row];
  return rows.map((old, i) => (i === index ? row : old));
}

/** A model's detail with one node's row patched in (state null removes the row). */
export function patchNodeModel(detail: ModelDetail, event: NodeModelChanged): ModelDetail {
  if (detail.id !== event.model_id) return detail;
  return { ...detail, nodes: upsertRow(detail.nodes, rowOf(event), (row) => row.runtime_id === event.runtime_id) };
}

/** A node's detail with its report on one model patched in (state null removes it). */
export function patchNodeDetailModel(detail: NodeDetail, event: NodeModelChanged): NodeDetail {
  if (detail.runtime_id !== event.runtime_id) return detail;
  return { ...detail, models: upsertRow(detail.models, rowOf(event), (row) => row.model_id === event.model_id) };
}

/** The node list after a status change; null when the node is unknown (a new node: refetch). */
export function patchNodeStatus(
  nodes: ReadonlyArray<Node>,
  event: Pick<NodeStatusChanged, "runtime_id" | "status" | "synced">,
): Node[] | null {
  const status = event.status;
  if (status === null) return removeNode(nodes, event.runtime_id);
  if (!nodes.some((node) => node.runtime_id === event.runtime_id)) return null;
  return nodes.map((node) => (node.runtime_id === event.runtime_id ? { ...node, status, synced: event.synced } : node));
}

/** A node's detail after a status change (a deleted node keeps its last detail; the view refetches). */
export function patchNodeDetailStatus(
  detail: NodeDetail,
  event: Pick<NodeStatusChanged, "runtime_id" | "status" | "synced">,
): NodeDetail {
  if (detail.runtime_id !== event.runtime_id || event.status === null) return detail;
  return { ...detail, status: event.status, synced: event.synced };
}

/**
 * The node list with an approve answer applied: it replaces the node only while the list still shows it
 * pending. The node may heartbeat before the answer is read, and the socket's `online` must not be
 * overwritten by the answer's older `registering`.
 */
export function replaceNode(nodes: ReadonlyArray<Node>, node: Node): Node[] {
  return nodes.map((old) =>
    old.runtime_id === node.runtime_id && old.status === "pending" ? { ...old, ...node } : old,
  );
}

export function removeNode(nodes: ReadonlyArray<Node>, runtimeId: string): Node[] {
  return nodes.filter((node) => node.runtime_id !== runtimeId);
}

/** The node list with the given metrics applied (unknown runtime ids are skipped). */
export function patchMetrics(
  nodes: ReadonlyArray<Node>,
  updates: ReadonlyArray<Pick<MetricsState, "runtime_id" | "metrics" | "stale">>,
): Node[] {
  const byId = new Map(updates.map((update) => [update.runtime_id, update]));
  return nodes.map((node) => {
    const update = byId.get(node.runtime_id);
    return update ? { ...node, metrics: update.metrics, metrics_stale: update.stale } : node;
  });
}

/** Sort rank of a per-node row: failed, stalled, downloading, pending, ready. */
export function rowRank(row: Pick<NodeModelDetail, "state" | "stalled">): number {
  if (row.state === "failed") return 0;
  if (row.stalled) return 1;
  switch (row.state) {
    case "downloading":
      return 2;
    case "pending":
      return 3;
    default:
      return 4;
  }
}

/** Per-node rows with the ones that need attention first (failed, then stalled), then by `by` (runtime id). */
export function sortRows<T extends Pick<NodeModelDetail, "state" | "stalled" | "runtime_id" | "model_id">>(
  rows: ReadonlyArray<T>,
  by: "runtime_id" | "model_id" = "runtime_id",
): T[] {
  return [...rows].sort((a, b) => rowRank(a) - rowRank(b) || (a[by] < b[by] ? -1 : a[by] > b[by] ? 1 : 0));
}

/** "2 ready · 1 downloading · 1 stalled" (zero counts left out); "" when nothing reported. */
export function countsText(counts: NodeCounts): string {
  const parts: string[] = [];
  for (const key of ["ready", "downloading", "stalled", "pending", "failed", "offline"] as const) {
    if (counts[key] > 0) parts.push(`${counts[key]} ${key}`);
  }
  return parts.join(" · ");
}

/** A model's download progress 0..1 from its summed bytes; the server's progress when no bytes are known. */
export function hubProgress(item: Pick<HubItem, "progress" | "bytes_done" | "bytes_total">): number | null {
  if (item.bytes_total > 0) return Math.min(1, item.bytes_done / item.bytes_total);
  return item.progress;
}
