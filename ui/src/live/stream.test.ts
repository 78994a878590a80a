import { QueryClient } from "@tanstack/react-query";
import { beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import type {
  ClientOp,
  HubItem,
  MetricsState,
  ModelDetail,
  Node,
  NodeDetail,
  NodeModelChanged,
  NodeModelDetail,
  ServerFrame,
} from "@generated";
import { queryKeys } from "../api/queries";
import { EMPTY_COUNTS } from "./patches";
import {
  type CacheSink,
  type Clock,
  DEAD_SOCKET_CODE,
  EventStream,
  type EventStreamOptions,
  type SocketHandlers,
  type SocketLike,
} from "./stream";

const HUB_KEY = queryKeys.hub;
const NODES_KEY = queryKeys.nodes;

// ---- fakes ----

class FakeClock implements Clock {
  now = 0;
  randomValue = 0.5;
  private nextId = 1;
  private timers = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  random(): number {
    return this.randomValue;
  }

  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let nextId: number | null = null;
      let nextAt = Infinity;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && timer.at < nextAt) {
          nextAt = timer.at;
          nextId = id;
        }
      }
      if (nextId === null) break;
      const timer = this.timers.get(nextId);
      this.timers.delete(nextId);
      this.now = nextAt;
      timer?.fn();
    }
    this.now = end;
  }
}

class FakeSocket implements SocketLike {
  readonly sent: ClientOp[] = [];
  closedWith: number | null = null;

  constructor(private readonly handlers: SocketHandlers) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientOp);
  }

  close(code?: number): void {
    this.closedWith = code ?? 1000;
  }

  // server side
  open(): void {
    this.handlers.onOpen();
  }

  receive(frame: ServerFrame): void {
    this.handlers.onMessage(JSON.stringify(frame));
  }

  /** A raw text frame (extra fields, bad JSON, ...). */
  receiveRaw(data: string): void {
    this.handlers.onMessage(data);
  }

  serverClose(code: number): void {
    this.handlers.onClose(code, "");
  }
}

// ---- fixtures ----

function hubItem(id: string, overrides: Partial<HubItem> = {}): HubItem {
  return {
    id,
    name: id.toUpperCase(),
    description: `${id} model`,
    repo: `org/${id}`,
    recommended_filename: `${id}.gguf`,
    size_bytes: 1_000,
    required_memory_bytes: 2_000,
    tags: ["chat"],
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

function row(runtimeId: string, overrides: Partial<NodeModelDetail> = {}): NodeModelDetail {
  return {
    runtime_id: runtimeId,
    model_id: "a",
    state: "downloading",
    bytes_done: 10,
    bytes_total: 100,
    bytes_per_second: 5,
    eta_seconds: 18,
    stalled: false,
    error: null,
    updated_at: "2026-11-24T09:59:00Z",
    ...overrides,
  };
}

function modelDetail(id: string, nodes: NodeModelDetail[], overrides: Partial<HubItem> = {}): ModelDetail {
  return { ...hubItem(id, { status: "downloading", ...overrides }), nodes };
}

function nodeModelChanged(seq: number, runtimeId: string, overrides: Partial<NodeModelChanged> = {}): ServerFrame {
  return {
    type: "NodeModelChanged",
    seq,
    ts: TS,
    model_id: "a",
    runtime_id: runtimeId,
    state: "downloading",
    bytes_done: 50,
    bytes_total: 100,
    bytes_per_second: 10,
    eta_seconds: 5,
    stalled: false,
    error: null,
    ...overrides,
  };
}

function node(runtimeId: string, overrides: Partial<Node> = {}): Node {
  return {
    runtime_id: runtimeId,
    machine_name: `host-${runtimeId}`,
    status: "online",
    synced: true,
    metrics: { cpu_usage: 0.1 },
    metrics_stale: false,
    last_heartbeat_at: "2026-11-24T10:00:00Z",
    ...overrides,
  };
}

const TS = "2026-11-24T10:00:00Z";

function modelChanged(seq: number, modelId: string, progress: number | null, status: HubItem["status"] = "downloading"): ServerFrame {
  return {
    type: "ModelStatusChanged",
    seq,
    ts: TS,
    model_id: modelId,
    status,
    progress,
    node_counts: { ...EMPTY_COUNTS, downloading: 1, stalled: 1 },
    bytes_done: 10,
    bytes_total: 100,
  };
}

// ---- harness ----

interface Harness {
  stream: EventStream;
  clock: FakeClock;
  client: QueryClient;
  sockets: FakeSocket[];
  authFailures: number[];
  logs: string[];
  invalidate: MockInstance<QueryClient["invalidateQueries"]>;
  socket(): FakeSocket;
}

function setup(options: Partial<EventStreamOptions> = {}): Harness {
  const clock = new FakeClock();
  const client = new QueryClient();
  const sockets: FakeSocket[] = [];
  const authFailures: number[] = [];
  const logs: string[] = [];
  const invalidate = vi.spyOn(client, "invalidateQueries");
  // A QueryClient is a valid sink (checked by the type-checker).
  const sink: CacheSink = client;
  const stream = new EventStream({
    socketFactory: (handlers) => {
      const socket = new FakeSocket(handlers);
      sockets.push(socket);
      return socket;
    },
    sink,
    clock,
    onAuthFailure: (code) => authFailures.push(code),
    log: (message) => logs.push(message),
    ...options,
  });
  return {
    stream,
    clock,
    client,
    sockets,
    authFailures,
    logs,
    invalidate,
    socket: () => {
      const last = sockets[sockets.length - 1];
      if (!last) throw new Error("no socket yet");
      return last;
    },
  };
}

/** Start, open, subscribe to the given topics and confirm with Subscribed at `seq`. */
function connected(topics: string[], seq: number, options: Partial<EventStreamOptions> = {}): Harness {
  const h = setup(options);
  h.stream.retain(topics);
  h.stream.start();
  h.socket().open();
  h.socket().receive({ type: "Subscribed", topics, seq });
  return h;
}

const hub = (h: Harness) => h.client.getQueryData<HubItem[]>(HUB_KEY);
const nodes = (h: Harness) => h.client.getQueryData<Node[]>(NODES_KEY);

// ---- tests ----

describe("subscribing", () => {
  it("opens one socket and subscribes to the union of retained topics without since", () => {
    const h = setup();
    h.stream.retain(["models"]);
    h.stream.retain(["nodes", "metrics"]);
    h.stream.retain(["models"]);
    h.stream.start();
    expect(h.sockets).toHaveLength(1);
    expect(h.stream.getState()).toBe("reconnecting");
    h.socket().open();
    expect(h.stream.getState()).toBe("live");
    expect(h.socket().sent).toEqual([{ op: "subscribe", topics: ["models", "nodes", "metrics"] }]);
    h.socket().receive({ type: "Subscribed", topics: ["models", "nodes", "metrics"], seq: 17 });
    expect(h.stream.getLastSeq()).toBe(17);
  });

  it("subscribes topics retained later and unsubscribes released ones on the same socket", () => {
    const h = connected(["models"], 3);
    const release = h.stream.retain(["nodes"]);
    expect(h.socket().sent[1]).toEqual({ op: "subscribe", topics: ["nodes"] });
    release();
    release(); // idempotent
    expect(h.socket().sent.slice(2)).toEqual([{ op: "unsubscribe", topics: ["nodes"] }]);
    expect(h.sockets).toHaveLength(1);
  });
});

describe("snapshots and resync", () => {
  it("Snapshot replaces the hub and the node lists", () => {
    const h = connected(["models", "nodes"], 5);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("old")]);
    h.socket().receive({ type: "Snapshot", topic: "models", items: [hubItem("a"), hubItem("b", { status: "ready" })] });
    expect(hub(h)?.map((item) => [item.id, item.status])).toEqual([
      ["a", "available"],
      ["b", "ready"],
    ]);
    h.socket().receive({ type: "Snapshot", topic: "nodes", items: [node("n2")] });
    expect(nodes(h)?.map((n) => n.runtime_id)).toEqual(["n2"]);
  });

  it("a metrics Snapshot replaces every node's metrics and staleness", () => {
    const h = connected(["nodes", "metrics"], 5);
    h.client.setQueryData<Node[]>(NODES_KEY, [node("n1"), node("n2")]);
    const states: MetricsState[] = [{ runtime_id: "n2", metrics: { cpu_usage: 0.75, gpu_usage: 0.5 }, stale: true }];
    h.socket().receive({ type: "Snapshot", topic: "metrics", items: states });
    expect(nodes(h)?.[0]?.metrics).toEqual({ cpu_usage: 0.1 });
    expect(nodes(h)?.[1]?.metrics).toEqual({ cpu_usage: 0.75, gpu_usage: 0.5 });
    expect(nodes(h)?.[1]?.metrics_stale).toBe(true);
  });

  it("ResyncRequired invalidates the queries of the subscribed topics, once per query", () => {
    const h = connected(["models", "nodes", "metrics", "model:a", "node:n1"], 5);
    h.socket().receive({ type: "ResyncRequired" });
    expect(h.invalidate.mock.calls).toEqual([
      [{ queryKey: ["models", "hub"] }],
      [{ queryKey: ["nodes"] }],
      [{ queryKey: ["models", "detail", "a"] }],
      [{ queryKey: ["nodes", "detail", "n1"] }],
    ]);
  });

  it("a model:<id> Snapshot replaces that model's detail; a node:<id> Snapshot that node's", () => {
    const h = connected(["model:a", "node:n1"], 5);
    h.socket().receive({ type: "Snapshot", topic: "model:a", items: [modelDetail("a", [row("n1"), row("n2")])] });
    expect(h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"))?.nodes.map((r) => r.runtime_id)).toEqual([
      "n1",
      "n2",
    ]);
    const detail: NodeDetail = { ...node("n1"), models: [row("n1")] };
    h.socket().receive({ type: "Snapshot", topic: "node:n1", items: [detail] });
    expect(h.client.getQueryData<NodeDetail>(queryKeys.nodeDetail("n1"))?.models).toHaveLength(1);
    // An unknown node: empty items, the detail query is refetched (it answers 404 until the node registers).
    h.socket().receive({ type: "Snapshot", topic: "node:n9", items: [] });
    expect(h.invalidate).toHaveBeenCalledWith({ queryKey: ["nodes", "detail", "n9"] });
    expect(h.client.getQueryData(queryKeys.nodeDetail("n9"))).toBeUndefined();
  });
});

describe("events", () => {
  it("applies events in seq order and ignores duplicate and old seqs", () => {
    const h = connected(["models"], 10);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a"), hubItem("b")]);
    h.socket().receive(modelChanged(11, "a", 0.2));
    h.socket().receive(modelChanged(11, "a", 0.9)); // duplicate
    h.socket().receive(modelChanged(9, "a", 0.95)); // older than Subscribed.seq
    expect(hub(h)?.[0]?.progress).toBe(0.2);
    h.socket().receive(modelChanged(12, "a", 1, "ready"));
    expect(hub(h)?.[0]).toMatchObject({ status: "ready", progress: 1 });
    expect(hub(h)?.[1]).toMatchObject({ status: "available", progress: null });
    expect(h.stream.getLastSeq()).toBe(12);
  });

  it("coalesced progress updates patch status, progress and the aggregates of the item in place", () => {
    const h = connected(["models"], 0);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a", { status: "registered" }), hubItem("b")]);
    const before = hub(h)?.[1];
    for (const [seq, progress] of [[1, 0.1], [2, 0.35], [3, 0.6]] as const) {
      h.socket().receive(modelChanged(seq, "a", progress));
    }
    const item = hub(h)?.[0];
    expect(item?.status).toBe("downloading");
    expect(item?.progress).toBe(0.6);
    expect(item?.node_counts).toEqual({ ...EMPTY_COUNTS, downloading: 1, stalled: 1 });
    expect([item?.bytes_done, item?.bytes_total]).toEqual([10, 100]);
    expect(item?.name).toBe("A");
    expect(hub(h)?.[1]).toBe(before); // untouched items keep their identity
  });

  it("a model missing from the hub list invalidates the model queries", () => {
    const h = connected(["models"], 0);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a")]);
    h.socket().receive(modelChanged(1, "zzz", 0.5));
    expect(h.invalidate).toHaveBeenCalledWith({ queryKey: ["models"] });
  });

  it("NodeStatusChanged patches a known node, removes a deleted one and refetches for an unknown one", () => {
    const h = connected(["nodes"], 0);
    h.client.setQueryData<Node[]>(NODES_KEY, [node("n1", { status: "pending" }), node("n2")]);
    h.socket().receive({
      type: "NodeStatusChanged",
      seq: 1,
      ts: TS,
      runtime_id: "n1",
      machine_name: "host-n1",
      status: "online",
      previous: "pending",
      synced: false,
    });
    expect(nodes(h)?.map((n) => [n.runtime_id, n.status, n.synced])).toEqual([
      ["n1", "online", false],
      ["n2", "online", true],
    ]);
    expect(h.invalidate).not.toHaveBeenCalled();

    h.socket().receive({
      type: "NodeStatusChanged",
      seq: 2,
      ts: TS,
      runtime_id: "n2",
      machine_name: "host-n2",
      status: null,
      previous: "online",
      synced: false,
    });
    expect(nodes(h)?.map((n) => n.runtime_id)).toEqual(["n1"]);

    h.socket().receive({
      type: "NodeStatusChanged",
      seq: 3,
      ts: TS,
      runtime_id: "n9",
      machine_name: "host-n9",
      status: "pending",
      previous: null,
      synced: false,
    });
    expect(h.invalidate).toHaveBeenCalledTimes(1);
    expect(h.invalidate).toHaveBeenCalledWith({ queryKey: ["nodes"] });
    expect(nodes(h)?.map((n) => n.runtime_id)).toEqual(["n1"]);
  });

  it("MetricsUpdated patches metrics and metrics_stale of that node only", () => {
    const h = connected(["metrics"], 0);
    h.client.setQueryData<Node[]>(NODES_KEY, [node("n1"), node("n2")]);
    h.socket().receive({ type: "MetricsUpdated", seq: 1, ts: TS, runtime_id: "n2", metrics: { memory_usage: 0.4 }, stale: true });
    expect(nodes(h)?.[1]).toMatchObject({ metrics: { memory_usage: 0.4 }, metrics_stale: true });
    expect(nodes(h)?.[0]).toMatchObject({ metrics: { cpu_usage: 0.1 }, metrics_stale: false });
  });

  it("NodeModelChanged patches, adds and (state null) removes rows of the cached model and node details", () => {
    const h = connected(["model:a", "node:n1"], 0);
    h.client.setQueryData<ModelDetail>(queryKeys.modelDetail("a"), modelDetail("a", [row("n1"), row("n2")]));
    h.client.setQueryData<NodeDetail>(queryKeys.nodeDetail("n1"), { ...node("n1"), models: [row("n1")] });
    const untouched = h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"))?.nodes[1];

    h.socket().receive(nodeModelChanged(1, "n1", { stalled: true, bytes_per_second: 0, eta_seconds: null }));
    let detail = h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"));
    expect(detail?.nodes[0]).toEqual(
      row("n1", { bytes_done: 50, stalled: true, bytes_per_second: 0, eta_seconds: null, updated_at: TS }),
    );
    expect(detail?.nodes[1]).toBe(untouched);
    expect(h.client.getQueryData<NodeDetail>(queryKeys.nodeDetail("n1"))?.models[0]?.stalled).toBe(true);

    h.socket().receive(nodeModelChanged(2, "n3", { state: "failed", error: "disk full" }));
    detail = h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"));
    expect(detail?.nodes.map((r) => [r.runtime_id, r.state, r.error])).toEqual([
      ["n1", "downloading", null],
      ["n2", "downloading", null],
      ["n3", "failed", "disk full"],
    ]);

    h.socket().receive(nodeModelChanged(3, "n1", { state: null }));
    expect(h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"))?.nodes.map((r) => r.runtime_id)).toEqual([
      "n2",
      "n3",
    ]);
    expect(h.client.getQueryData<NodeDetail>(queryKeys.nodeDetail("n1"))?.models).toEqual([]);
    // Another model's event leaves this detail alone; nothing is cached for it, so nothing is created.
    h.socket().receive(nodeModelChanged(4, "n2", { model_id: "b" }));
    expect(h.client.getQueryData(queryKeys.modelDetail("b"))).toBeUndefined();
    expect(h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"))?.nodes).toHaveLength(2);
    expect(h.invalidate).not.toHaveBeenCalled();
  });

  it("ModelStatusChanged also patches the cached model detail, keeping its rows", () => {
    const h = connected(["models", "model:a"], 0);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a", { status: "registered" })]);
    h.client.setQueryData<ModelDetail>(queryKeys.modelDetail("a"), modelDetail("a", [row("n1")], { status: "registered" }));
    h.socket().receive(modelChanged(1, "a", 0.1));
    const detail = h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"));
    expect(detail).toMatchObject({ status: "downloading", progress: 0.1, bytes_done: 10, bytes_total: 100 });
    expect(detail?.nodes).toHaveLength(1);
  });

  it("HfStatsUpdated replaces hf_info of the hub item and the detail", () => {
    const h = connected(["models"], 0);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a"), hubItem("b")]);
    h.client.setQueryData<ModelDetail>(queryKeys.modelDetail("a"), modelDetail("a", []));
    const info = { downloads: 5, likes: 1, fetched_at: TS, freshness: "fresh" } as const;
    h.socket().receive({ type: "HfStatsUpdated", seq: 1, ts: TS, model_id: "a", hf_info: info });
    expect(hub(h)?.[0]?.hf_info).toEqual(info);
    expect(hub(h)?.[1]?.hf_info).toBeNull();
    expect(h.client.getQueryData<ModelDetail>(queryKeys.modelDetail("a"))?.hf_info).toEqual(info);
    expect(hub(h)?.[0]?.status).toBe("available");
  });

  it("accepts frames with unknown fields, and keeps those fields out of the cache", () => {
    const h = connected(["models"], 0);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a")]);
    const frame = { ...modelChanged(1, "a", 0.5), shiny_new_field: { x: 1 }, nodes: ["legacy"] };
    h.socket().receiveRaw(JSON.stringify(frame));
    expect(hub(h)?.[0]).toMatchObject({ status: "downloading", progress: 0.5 });
    expect(hub(h)?.[0]).not.toHaveProperty("shiny_new_field");
    expect(hub(h)?.[0]).not.toHaveProperty("nodes");
    h.socket().receiveRaw(JSON.stringify({ type: "Heartbeat", extra: true }));
    h.socket().receiveRaw(JSON.stringify({ type: "Subscribed", topics: ["models"], seq: 1, extra: "x" }));
    expect(h.logs).toEqual([]);
    expect(h.stream.getLastSeq()).toBe(1);
  });

  it("drops frames that are not JSON, have an unknown type or miss a needed field, and stays connected", () => {
    const h = connected(["models"], 0);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a")]);
    h.socket().receiveRaw("{not json");
    h.socket().receiveRaw(JSON.stringify({ type: "FutureEvent", seq: 1 }));
    h.socket().receiveRaw(JSON.stringify({ type: "ModelStatusChanged", seq: 2, ts: TS, model_id: "a", status: "ready" }));
    expect(h.logs).toEqual([
      "frame is not JSON",
      "unknown frame type: FutureEvent",
      "ModelStatusChanged frame with a bad or missing progress",
    ]);
    expect(hub(h)?.[0]?.status).toBe("available");
    expect(h.stream.getLastSeq()).toBe(0); // a rejected event does not advance the seq
    expect(h.stream.getState()).toBe("live");
  });

  it("logs an Error frame and keeps the connection", () => {
    const h = connected(["models"], 0);
    h.socket().receive({ type: "Error", code: "unknown_topic", message: "No such topic" });
    expect(h.logs).toEqual(["server rejected a frame: unknown_topic: No such topic"]);
    expect(h.socket().closedWith).toBeNull();
    expect(h.stream.getState()).toBe("live");
  });
});

describe("reconnecting", () => {
  let h: Harness;
  beforeEach(() => {
    h = connected(["models", "nodes"], 20);
  });

  it("backs off exponentially with full jitter, capped at 30 s", () => {
    h.clock.randomValue = 0.5;
    const delays: number[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const count = h.sockets.length;
      h.socket().serverClose(1006);
      const start = h.clock.now;
      while (h.sockets.length === count) h.clock.advance(1);
      delays.push(h.clock.now - start);
    }
    // 0.5 × min(30 s, 1 s × 2^n): 500, 1000, 2000, ... then 15000 = 0.5 × cap.
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  it("the jitter spans [0, ceiling): random() = 0 reconnects at once, 0.999 just before the ceiling", () => {
    h.clock.randomValue = 0;
    h.socket().serverClose(1006);
    h.clock.advance(0);
    expect(h.sockets).toHaveLength(2);
    h.clock.randomValue = 0.999;
    h.socket().serverClose(1006); // second failure: ceiling 2 s
    h.clock.advance(1997);
    expect(h.sockets).toHaveLength(2);
    h.clock.advance(1);
    expect(h.sockets).toHaveLength(3);
  });

  it("resumes with since = last seq and applies the replayed events", () => {
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a", { status: "registered" })]);
    h.socket().receive(modelChanged(21, "a", 0.1));
    h.socket().serverClose(1006);
    h.clock.advance(30_000);
    expect(h.sockets).toHaveLength(2);
    h.socket().open();
    expect(h.socket().sent).toEqual([{ op: "subscribe", topics: ["models", "nodes"], since: 21 }]);
    // The server is at 25 and replays 22..25; Subscribed.seq must not swallow them.
    h.socket().receive({ type: "Subscribed", topics: ["models", "nodes"], seq: 25 });
    h.socket().receive(modelChanged(21, "a", 0.99)); // already applied
    h.socket().receive(modelChanged(24, "a", 0.7));
    expect(hub(h)?.[0]?.progress).toBe(0.7);
    expect(h.stream.getLastSeq()).toBe(24);
  });

  it("a topic retained while disconnected is subscribed without since on reconnect", () => {
    h.socket().serverClose(1006);
    h.stream.retain(["metrics"]);
    h.clock.advance(30_000);
    h.socket().open();
    expect(h.socket().sent).toEqual([
      { op: "subscribe", topics: ["models", "nodes"], since: 20 },
      { op: "subscribe", topics: ["metrics"] },
    ]);
  });

  it("follows a restarted server whose seq went backwards", () => {
    h.socket().serverClose(1006);
    h.clock.advance(30_000);
    h.socket().open();
    h.socket().receive({ type: "Subscribed", topics: ["models", "nodes"], seq: 3 });
    expect(h.stream.getLastSeq()).toBe(3);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a")]);
    h.socket().receive(modelChanged(4, "a", 0.4));
    expect(hub(h)?.[0]?.progress).toBe(0.4);
  });

  it("resets the backoff after a connection stayed open for 5 s", () => {
    h.clock.randomValue = 0.5;
    for (let i = 0; i < 4; i++) {
      h.socket().serverClose(1006);
      h.clock.advance(30_000);
    }
    // Four failures in a row: the next ceiling would be 16 s. Stay open 5 s first.
    h.socket().open();
    h.clock.advance(5_000);
    const count = h.sockets.length;
    h.socket().serverClose(1006);
    h.clock.advance(499);
    expect(h.sockets).toHaveLength(count);
    h.clock.advance(1);
    expect(h.sockets).toHaveLength(count + 1);
  });

  it("reports reconnecting, then offline after 3 failed attempts, then live again", () => {
    const states: string[] = [];
    h.stream.onStateChange(() => states.push(h.stream.getState()));
    h.socket().serverClose(1006);
    h.clock.advance(30_000);
    h.socket().serverClose(1006);
    h.clock.advance(30_000);
    h.socket().serverClose(1006);
    h.clock.advance(30_000);
    h.socket().open();
    expect(states).toEqual(["reconnecting", "offline", "live"]);
  });

  it("is offline while the browser is offline and reconnects at once when it comes back", () => {
    h.socket().serverClose(1006);
    h.stream.setBrowserOnline(false);
    expect(h.stream.getState()).toBe("offline");
    const count = h.sockets.length;
    h.stream.setBrowserOnline(true);
    expect(h.sockets).toHaveLength(count + 1);
    expect(h.stream.getState()).toBe("reconnecting");
  });

  it.each([4401, 4403])("close code %i stops reconnecting and reports it", (code) => {
    h.socket().serverClose(code);
    h.clock.advance(10 * 60_000);
    expect(h.sockets).toHaveLength(1);
    expect(h.authFailures).toEqual([code]);
    expect(h.stream.getAuthFailure()).toBe(code);
    h.stream.start();
    h.stream.setBrowserOnline(true);
    expect(h.sockets).toHaveLength(1);
  });

  it("treats 40 s without any frame as a dead socket and replaces it", () => {
    h.clock.randomValue = 0;
    h.clock.advance(39_000);
    h.socket().receive({ type: "Heartbeat" }); // any frame resets the deadline
    h.clock.advance(39_999);
    expect(h.sockets).toHaveLength(1);
    expect(h.sockets[0]?.closedWith).toBeNull();
    h.clock.advance(1);
    expect(h.sockets[0]?.closedWith).toBe(DEAD_SOCKET_CODE);
    expect(h.sockets).toHaveLength(2);
    expect(h.stream.getState()).toBe("reconnecting");
    // A late close event from the dead socket is ignored.
    h.sockets[0]?.serverClose(1006);
    h.clock.advance(30_000);
    expect(h.sockets).toHaveLength(2);
    // A socket that never opens is replaced too.
    h.clock.advance(10_000);
    expect(h.sockets).toHaveLength(3);
    expect(h.logs).toContain("no frame for 40 s; reconnecting");
  });

  it("stop() closes the socket and never reconnects", () => {
    h.stream.stop();
    expect(h.sockets[0]?.closedWith).toBe(1000);
    h.sockets[0]?.serverClose(1000);
    h.clock.advance(10 * 60_000);
    expect(h.sockets).toHaveLength(1);
  });
});
