// Cache writes: what each Snapshot and event does to the query cache. Keys come from the queryOptions
// factories of api/queries.ts; the changes themselves are the pure functions of ./patches.
import type {
  HfStatsUpdated,
  HubItem,
  MetricsState,
  ModelDetail,
  ModelStatusChanged,
  Node,
  NodeDetail,
  NodeModelChanged,
  NodeStatusChanged,
  ServerFrame,
  Topic,
} from "@generated";
import { hubQuery, modelDetailQuery, nodeDetailQuery, nodesQuery, queryKeys } from "../api/queries";
import {
  patchDetailHfStats,
  patchHfStats,
  patchMetrics,
  patchModel,
  patchModelDetail,
  patchNodeDetailModel,
  patchNodeDetailStatus,
  patchNodeModel,
  patchNodeStatus,
} from "./patches";

export type QueryKeyLike = ReadonlyArray<unknown>;

/** The part of TanStack's QueryClient the stream writes to (a QueryClient satisfies it). */
export interface CacheSink {
  setQueryData(queryKey: QueryKeyLike, updater: (old: unknown) => unknown): unknown;
  invalidateQueries(filters: { queryKey: QueryKeyLike }): unknown;
}

export const HUB_KEY: QueryKeyLike = hubQuery(false).queryKey;
export const NODES_KEY: QueryKeyLike = nodesQuery(false).queryKey;
export const modelDetailKey = (modelId: string): QueryKeyLike => modelDetailQuery(modelId, false).queryKey;
export const nodeDetailKey = (runtimeId: string): QueryKeyLike => nodeDetailQuery(runtimeId, false).queryKey;
/** Prefixes that refetch every query of a kind. */
export const MODELS_PREFIX: QueryKeyLike = queryKeys.models;
export const NODES_PREFIX: QueryKeyLike = queryKeys.nodes;

export type SnapshotItems = Extract<ServerFrame, { type: "Snapshot" }>["items"];
export type EventFrame = Extract<ServerFrame, { seq: number; ts: string }>;

/** "model:x" → ["model", "x"]; "models" → ["models", null]. */
export function splitTopic(topic: Topic): readonly [string, string | null] {
  const colon = topic.indexOf(":");
  return colon === -1 ? [topic, null] : [topic.slice(0, colon), topic.slice(colon + 1)];
}

/** The queries a topic keeps current (refetched on ResyncRequired). */
export function queryKeyFor(topic: Topic): QueryKeyLike | null {
  const [kind, id] = splitTopic(topic);
  switch (kind) {
    case "models":
      return HUB_KEY;
    case "model":
      return id === null ? null : modelDetailKey(id);
    case "nodes":
    case "metrics":
      return NODES_KEY;
    case "node":
      return id === null ? null : nodeDetailKey(id);
    default:
      return null;
  }
}

export class CacheWriter {
  constructor(
    private readonly sink: CacheSink,
    private readonly log: (message: string, detail?: unknown) => void,
  ) {}

  /** A Snapshot replaces what the cache holds for its topic. */
  applySnapshot(topic: Topic, items: SnapshotItems): void {
    const [kind, id] = splitTopic(topic);
    switch (kind) {
      case "models":
        this.sink.setQueryData(HUB_KEY, () => [...(items as ReadonlyArray<HubItem>)]);
        return;
      case "nodes":
        this.sink.setQueryData(NODES_KEY, () => [...(items as ReadonlyArray<Node>)]);
        return;
      case "model":
        if (id !== null) this.replaceDetail(modelDetailKey(id), items[0] as ModelDetail | undefined);
        return;
      case "node":
        if (id !== null) this.replaceDetail(nodeDetailKey(id), items[0] as NodeDetail | undefined);
        return;
      case "metrics": {
        const states = items as ReadonlyArray<MetricsState>;
        this.updateList<Node>(NODES_KEY, (old) => patchMetrics(old, states));
        return;
      }
      default:
        this.log(`snapshot for a topic the dashboard does not cache: ${topic}`);
    }
  }

  /** ResyncRequired: refetch the queries of these topics (once each). */
  invalidate(topics: ReadonlyArray<Topic>): void {
    const seen = new Set<string>();
    for (const topic of topics) {
      const key = queryKeyFor(topic);
      if (key === null || seen.has(JSON.stringify(key))) continue;
      seen.add(JSON.stringify(key));
      void this.sink.invalidateQueries({ queryKey: key });
    }
  }

  applyEvent(event: EventFrame): void {
    switch (event.type) {
      case "ModelStatusChanged":
        this.modelStatus(event);
        return;
      case "HfStatsUpdated":
        this.hfStats(event);
        return;
      case "NodeModelChanged":
        this.nodeModel(event);
        return;
      case "NodeStatusChanged":
        this.nodeStatus(event);
        return;
      case "MetricsUpdated":
        this.updateList<Node>(NODES_KEY, (old) => patchMetrics(old, [event]));
        return;
      default: {
        const unknownEvent: never = event;
        this.log("unknown event", unknownEvent);
      }
    }
  }

  private modelStatus(event: ModelStatusChanged): void {
    this.patchOrRefetch<HubItem>(HUB_KEY, (old) => patchModel(old, event), MODELS_PREFIX);
    this.updateOne<ModelDetail>(modelDetailKey(event.model_id), (old) => patchModelDetail(old, event));
  }

  private hfStats(event: HfStatsUpdated): void {
    this.patchOrRefetch<HubItem>(HUB_KEY, (old) => patchHfStats(old, event), MODELS_PREFIX);
    this.updateOne<ModelDetail>(modelDetailKey(event.model_id), (old) => patchDetailHfStats(old, event));
  }

  private nodeModel(event: NodeModelChanged): void {
    this.updateOne<ModelDetail>(modelDetailKey(event.model_id), (old) => patchNodeModel(old, event));
    this.updateOne<NodeDetail>(nodeDetailKey(event.runtime_id), (old) => patchNodeDetailModel(old, event));
  }

  private nodeStatus(event: NodeStatusChanged): void {
    this.patchOrRefetch<Node>(NODES_KEY, (old) => patchNodeStatus(old, event), NODES_KEY);
    this.updateOne<NodeDetail>(nodeDetailKey(event.runtime_id), (old) => patchNodeDetailStatus(old, event));
  }

  private replaceDetail(key: QueryKeyLike, detail: ModelDetail | NodeDetail | undefined): void {
    // A node that has not registered yet has no detail: the query answers 404 until it does.
    if (detail === undefined) void this.sink.invalidateQueries({ queryKey: key });
    else this.sink.setQueryData(key, () => detail);
  }

  /** Patch a cached value; nothing when the cache holds none. */
  private updateOne<T>(key: QueryKeyLike, patch: (old: T) => T): void {
    this.sink.setQueryData(key, (old) => (old === undefined ? undefined : patch(old as T)));
  }

  private updateList<T>(key: QueryKeyLike, patch: (old: ReadonlyArray<T>) => ReadonlyArray<T>): void {
    this.sink.setQueryData(key, (old) => (old === undefined ? undefined : patch(old as ReadonlyArray<T>)));
  }

  /** Patch a cached list in place; when the patch finds nothing to change (null), refetch `refetch` instead. */
  private patchOrRefetch<T>(
    key: QueryKeyLike,
    patch: (old: ReadonlyArray<T>) => ReadonlyArray<T> | null,
    refetch: QueryKeyLike,
  ): void {
    let missing = false;
    this.sink.setQueryData(key, (old) => {
      if (old === undefined) return undefined;
      const next = patch(old as ReadonlyArray<T>);
      if (next === null) missing = true;
      return next ?? old;
    });
    if (missing) void this.sink.invalidateQueries({ queryKey: refetch });
  }
}
