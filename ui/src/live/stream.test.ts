import { QueryClient } from "@tanstack/react-query";
import { beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import type { ClientOp, HubItem, MetricsState, Node, ServerFrame } from "@generated";
import {
  type CacheSink,
  type Clock,
  DEAD_SOCKET_CODE,
  EventStream,
  type EventStreamOptions,
  HUB_KEY,
  NODES_KEY,
  type SocketHandlers,
  type SocketLike,
} from "./stream";

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
    nodes: [],
    hf_info: null,
    ...overrides,
  };
}

function node(runtimeId: string, overrides: Partial<Node> = {}): Node {
  return {
    runtime_id: runtimeId,
    machine_name: `host-${runtimeId}`,
    status: "online",
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
    nodes: [{ runtime_id: "n1", state: "downloading", bytes_done: 10, bytes_total: 100, error: null }],
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

  it("ResyncRequired invalidates the queries of the subscribed topics, once per query prefix", () => {
    const h = connected(["models", "nodes", "metrics"], 5);
    h.socket().receive({ type: "ResyncRequired" });
    expect(h.invalidate.mock.calls).toEqual([[{ queryKey: ["models"] }], [{ queryKey: ["nodes"] }]]);
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

  it("coalesced progress updates patch status, progress and nodes of the item in place", () => {
    const h = connected(["models"], 0);
    h.client.setQueryData<HubItem[]>(HUB_KEY, [hubItem("a", { status: "registered" }), hubItem("b")]);
    const before = hub(h)?.[1];
    for (const [seq, progress] of [[1, 0.1], [2, 0.35], [3, 0.6]] as const) {
      h.socket().receive(modelChanged(seq, "a", progress));
    }
    const item = hub(h)?.[0];
    expect(item?.status).toBe("downloading");
    expect(item?.progress).toBe(0.6);
    expect(item?.nodes).toEqual([{ runtime_id: "n1", state: "downloading", bytes_done: 10, bytes_total: 100, error: null }]);
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
    h.socket().receive({ type: "NodeStatusChanged", seq: 1, ts: TS, runtime_id: "n1", status: "registering", previous: "pending" });
    expect(nodes(h)?.map((n) => [n.runtime_id, n.status])).toEqual([
      ["n1", "registering"],
      ["n2", "online"],
    ]);
    expect(h.invalidate).not.toHaveBeenCalled();

    h.socket().receive({ type: "NodeStatusChanged", seq: 2, ts: TS, runtime_id: "n2", status: null, previous: "online" });
    expect(nodes(h)?.map((n) => n.runtime_id)).toEqual(["n1"]);

    h.socket().receive({ type: "NodeStatusChanged", seq: 3, ts: TS, runtime_id: "n9", status: "pending", previous: null });
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
