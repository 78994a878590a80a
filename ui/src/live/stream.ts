// The WebSocket-to-cache logic, framework-free so Vitest can drive it with a fake socket and a fake clock.
//
// One EventStream per app (see EventStreamProvider). It keeps one socket open to /ws, subscribes to the
// union of the topics the mounted views retain, writes events into the query cache and reconnects:
//   - Snapshot replaces what the cache holds for its topic; ResyncRequired invalidates (refetches) the
//     queries of the subscribed topics (snapshots follow).
//   - Events carry seq; an event with seq <= the last seq applied is a duplicate (resume replay) and is ignored.
//     The last seq also advances from Subscribed.seq of a subscribe sent without `since`.
//   - Reconnect: exponential backoff with full jitter, delay = random() * min(30 s, 1 s * 2^(attempt-1));
//     attempts reset once a connection has stayed open for 5 s. On reconnect the topics the cache already
//     follows are re-subscribed with `since` = last seq, new topics without (they get a Snapshot).
//   - No frame for 40 s (the server sends Heartbeat every 15 s) → the socket is treated as dead and replaced.
//   - Close code 4401 (no/unknown token) or 4403 (wrong kind of token) → stop for good and report it.
//   - Connection state: "live" while a socket is open; "offline" when the browser says it is offline or
//     3 or more consecutive attempts failed; "reconnecting" otherwise.
import type {
  ClientOp,
  HubItem,
  MetricsState,
  MetricsUpdated,
  ModelStatusChanged,
  Node,
  NodeStatusChanged,
  ServerFrame,
  Topic,
} from "@generated";

export type ConnectionState = "live" | "reconnecting" | "offline";

export type QueryKeyLike = ReadonlyArray<unknown>;

/** The part of TanStack's QueryClient the stream writes to (a QueryClient satisfies it). */
export interface CacheSink {
  setQueryData(queryKey: QueryKeyLike, updater: (old: unknown) => unknown): unknown;
  invalidateQueries(filters: { queryKey: QueryKeyLike }): unknown;
}

/** Whatever the clock's setTimeout returns (a number in browsers, an object in Node). */
export type TimerHandle = NonNullable<unknown>;

export interface Clock {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** A number in [0, 1) for the jitter. */
  random(): number;
}

export const systemClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  random: () => Math.random(),
};

export interface SocketHandlers {
  onOpen(): void;
  onMessage(data: string): void;
  onClose(code: number, reason: string): void;
}

export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Opens a socket and wires its events to the handlers. */
export type SocketFactory = (handlers: SocketHandlers) => SocketLike;

export type AuthCloseCode = 4401 | 4403;

export interface EventStreamOptions {
  readonly socketFactory: SocketFactory;
  readonly sink: CacheSink;
  readonly clock?: Clock;
  readonly onAuthFailure?: (code: AuthCloseCode) => void;
  readonly log?: (message: string, detail?: unknown) => void;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly deadAfterMs?: number;
  readonly healthyAfterMs?: number;
  readonly offlineAfterFailures?: number;
}

/** Query keys the stream writes (kept in step with api/queries.ts). */
export const HUB_KEY = ["models", "hub"] as const;
export const MODELS_PREFIX = ["models"] as const;
export const NODES_KEY = ["nodes"] as const;

/** Close code the client uses when it gives up on a silent socket. */
export const DEAD_SOCKET_CODE = 4000;

interface PendingSubscribe {
  readonly topics: ReadonlyArray<Topic>;
  readonly withSince: boolean;
}

// ---- pure cache updates ----

/** The hub list with one item's status, progress and nodes replaced; null when the model is not in the list. */
export function patchModel(items: ReadonlyArray<HubItem>, event: ModelStatusChanged): HubItem[] | null {
  let found = false;
  const next = items.map((item) => {
    if (item.id !== event.model_id) return item;
    found = true;
    return { ...item, status: event.status, progress: event.progress, nodes: event.nodes };
  });
  return found ? next : null;
}

/** The node list after a status change; null when the node is unknown (a new node: refetch). */
export function patchNodeStatus(nodes: ReadonlyArray<Node>, event: NodeStatusChanged): Node[] | null {
  const status = event.status;
  if (status === null) return nodes.filter((node) => node.runtime_id !== event.runtime_id);
  if (!nodes.some((node) => node.runtime_id === event.runtime_id)) return null;
  return nodes.map((node) => (node.runtime_id === event.runtime_id ? { ...node, status } : node));
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

/** Base topic of a topic ("model:x" → "model"). */
function topicKind(topic: Topic): string {
  const colon = topic.indexOf(":");
  return colon === -1 ? topic : topic.slice(0, colon);
}

function queryPrefixFor(topic: Topic): QueryKeyLike | null {
  switch (topicKind(topic)) {
    case "models":
    case "model":
      return MODELS_PREFIX;
    case "nodes":
    case "node":
    case "metrics":
      return NODES_KEY;
    default:
      return null;
  }
}

export class EventStream {
  private readonly factory: SocketFactory;
  private readonly sink: CacheSink;
  private readonly clock: Clock;
  private readonly onAuthFailure: (code: AuthCloseCode) => void;
  private readonly log: (message: string, detail?: unknown) => void;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly deadAfterMs: number;
  private readonly healthyAfterMs: number;
  private readonly offlineAfterFailures: number;

  private socket: SocketLike | null = null;
  /** Bumped for every socket so that late callbacks of a replaced socket are ignored. */
  private generation = 0;
  private open = false;
  private running = false;
  private authFailed: AuthCloseCode | null = null;
  /** Consecutive attempts that did not lead to a healthy connection. */
  private failures = 0;
  private lastSeq: number | null = null;
  private readonly wanted = new Map<Topic, number>();
  /** Topics whose cached state follows the event stream up to lastSeq (resumable with `since`). */
  private readonly synced = new Set<Topic>();
  private pending: PendingSubscribe[] = [];
  private browserOnline = true;
  private state: ConnectionState = "reconnecting";
  private readonly listeners = new Set<() => void>();
  private reconnectTimer: TimerHandle | null = null;
  private watchdogTimer: TimerHandle | null = null;
  private healthyTimer: TimerHandle | null = null;

  constructor(options: EventStreamOptions) {
    this.factory = options.socketFactory;
    this.sink = options.sink;
    this.clock = options.clock ?? systemClock;
    this.onAuthFailure = options.onAuthFailure ?? (() => {});
    this.log = options.log ?? ((message, detail) => console.warn(`[event stream] ${message}`, detail ?? ""));
    this.baseDelayMs = options.baseDelayMs ?? 1_000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.deadAfterMs = options.deadAfterMs ?? 40_000;
    this.healthyAfterMs = options.healthyAfterMs ?? 5_000;
    this.offlineAfterFailures = options.offlineAfterFailures ?? 3;
  }

  // ---- public API ----

  start(): void {
    if (this.running || this.authFailed !== null) return;
    this.running = true;
    this.connect();
  }

  /** Close the socket and stop reconnecting (unmount, sign-out). */
  stop(): void {
    this.running = false;
    this.clearTimer("reconnectTimer");
    this.dropSocket(1000, "client closed");
    this.updateState();
  }

  /** Ask for topics; returns a release function. Topics are reference-counted over all callers. */
  retain(topics: ReadonlyArray<Topic>): () => void {
    const added: Topic[] = [];
    for (const topic of topics) {
      const count = this.wanted.get(topic) ?? 0;
      this.wanted.set(topic, count + 1);
      if (count === 0) added.push(topic);
    }
    if (added.length > 0 && this.open) this.subscribe(added, false);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const removed: Topic[] = [];
      for (const topic of topics) {
        const count = this.wanted.get(topic) ?? 0;
        if (count <= 1) {
          this.wanted.delete(topic);
          this.synced.delete(topic);
          removed.push(topic);
        } else {
          this.wanted.set(topic, count - 1);
        }
      }
      if (removed.length > 0 && this.open) this.send({ op: "unsubscribe", topics: removed });
    };
  }

  /** Feed the browser's online/offline events in; coming back online reconnects at once. */
  setBrowserOnline(online: boolean): void {
    this.browserOnline = online;
    if (online && this.running && !this.open && this.socket === null) {
      this.clearTimer("reconnectTimer");
      this.failures = 0;
      this.connect();
    }
    this.updateState();
  }

  getState(): ConnectionState {
    return this.state;
  }

  getLastSeq(): number | null {
    return this.lastSeq;
  }

  getAuthFailure(): AuthCloseCode | null {
    return this.authFailed;
  }

  /** Listen for connection-state changes (useSyncExternalStore-shaped). */
  onStateChange = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  // ---- connection ----

  private connect(): void {
    this.reconnectTimer = null;
    if (!this.running) return;
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    this.pending = [];
    try {
      this.socket = this.factory({
        onOpen: () => {
          if (current()) this.handleOpen();
        },
        onMessage: (data) => {
          if (current()) this.handleMessage(data);
        },
        onClose: (code) => {
          if (current()) this.handleClosed(code);
        },
      });
    } catch (error) {
      this.log("could not open the socket", error);
      this.socket = null;
      this.handleClosed(1006);
      return;
    }
    // A socket that never opens is as dead as one that falls silent.
    this.armWatchdog();
  }

  private handleOpen(): void {
    this.open = true;
    this.armWatchdog();
    this.clearTimer("healthyTimer");
    this.healthyTimer = this.clock.setTimeout(() => {
      this.healthyTimer = null;
      this.failures = 0;
      this.updateState();
    }, this.healthyAfterMs);
    const topics = [...this.wanted.keys()];
    const resumable = this.lastSeq === null ? [] : topics.filter((topic) => this.synced.has(topic));
    const fresh = topics.filter((topic) => !resumable.includes(topic));
    if (resumable.length > 0) this.subscribe(resumable, true);
    if (fresh.length > 0) this.subscribe(fresh, false);
    this.updateState();
  }

  private handleClosed(code: number): void {
    this.generation++;
    this.socket = null;
    this.open = false;
    this.pending = [];
    this.clearTimer("watchdogTimer");
    this.clearTimer("healthyTimer");
    if (code === 4401 || code === 4403) {
      this.authFailed = code;
      this.running = false;
      this.clearTimer("reconnectTimer");
      this.updateState();
      this.onAuthFailure(code);
      return;
    }
    if (!this.running) {
      this.updateState();
      return;
    }
    this.failures++;
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (this.failures - 1));
    const delay = Math.floor(this.clock.random() * ceiling);
    this.clearTimer("reconnectTimer");
    this.reconnectTimer = this.clock.setTimeout(() => this.connect(), delay);
    this.updateState();
  }

  /** Close the current socket (if any) without waiting for its close event. */
  private dropSocket(code: number, reason: string): void {
    const socket = this.socket;
    this.generation++;
    this.socket = null;
    this.open = false;
    this.pending = [];
    this.clearTimer("watchdogTimer");
    this.clearTimer("healthyTimer");
    if (socket) {
      try {
        socket.close(code, reason);
      } catch (error) {
        this.log("closing the socket failed", error);
      }
    }
  }

  private armWatchdog(): void {
    this.clearTimer("watchdogTimer");
    this.watchdogTimer = this.clock.setTimeout(() => {
      this.watchdogTimer = null;
      this.log(`no frame for ${this.deadAfterMs / 1000} s; reconnecting`);
      this.dropSocket(DEAD_SOCKET_CODE, "no frame received");
      this.handleClosed(DEAD_SOCKET_CODE);
    }, this.deadAfterMs);
  }

  private subscribe(topics: ReadonlyArray<Topic>, withSince: boolean): void {
    const op: ClientOp =
      withSince && this.lastSeq !== null
        ? { op: "subscribe", topics, since: this.lastSeq }
        : { op: "subscribe", topics };
    this.pending.push({ topics, withSince: "since" in op });
    this.send(op);
  }

  private send(op: ClientOp): void {
    if (!this.socket || !this.open) return;
    try {
      this.socket.send(JSON.stringify(op));
    } catch (error) {
      this.log("send failed", error);
    }
  }

  // ---- frames ----

  private handleMessage(data: string): void {
    this.armWatchdog();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch (error) {
      this.log("frame is not JSON", error);
      return;
    }
    if (typeof frame !== "object" || frame === null || typeof frame.type !== "string") {
      this.log("frame without a type", frame);
      return;
    }
    this.handleFrame(frame);
  }

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "Subscribed":
        this.onSubscribed(frame.topics, frame.seq);
        return;
      case "Snapshot":
        this.applySnapshot(frame.topic, frame.items);
        return;
      case "ResyncRequired":
        this.invalidateWanted();
        return;
      case "Heartbeat":
      case "Pong":
        return;
      case "Error":
        this.log(`server rejected a frame: ${frame.code}: ${frame.message}`);
        return;
      case "ModelStatusChanged":
        if (this.accept(frame.seq)) this.applyModelStatus(frame);
        return;
      case "NodeStatusChanged":
        if (this.accept(frame.seq)) this.applyNodeStatus(frame);
        return;
      case "MetricsUpdated":
        if (this.accept(frame.seq)) this.applyMetrics(frame);
        return;
      default: {
        const unknownFrame: never = frame;
        this.log("unknown frame type", unknownFrame);
        return;
      }
    }
  }

  private onSubscribed(topics: ReadonlyArray<Topic>, seq: number): void {
    const request = this.pending.shift();
    for (const topic of request?.topics ?? topics) {
      if (this.wanted.has(topic)) this.synced.add(topic);
    }
    const withSince = request?.withSince ?? false;
    if (this.lastSeq === null || !withSince || seq < this.lastSeq) {
      // Without `since` a Snapshot at this seq follows. A seq below ours means the server started
      // afresh (in-memory events): its numbering is the one to follow from now on.
      this.lastSeq = seq;
    }
    // With `since`, the replayed events (<= seq) still have to come: keep lastSeq where it is.
  }

  /** True (and remembered) when seq is newer than anything applied. */
  private accept(seq: number): boolean {
    if (this.lastSeq !== null && seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    return true;
  }

  private applySnapshot(topic: Topic, items: ServerFrameItems): void {
    switch (topic) {
      case "models":
        this.sink.setQueryData(HUB_KEY, () => [...(items as ReadonlyArray<HubItem>)]);
        return;
      case "nodes":
        this.sink.setQueryData(NODES_KEY, () => [...(items as ReadonlyArray<Node>)]);
        return;
      case "metrics": {
        const states = items as ReadonlyArray<MetricsState>;
        this.sink.setQueryData(NODES_KEY, (old) =>
          old === undefined ? undefined : patchMetrics(old as ReadonlyArray<Node>, states),
        );
        return;
      }
      default:
        this.log(`snapshot for a topic the dashboard does not cache: ${topic}`);
    }
  }

  private invalidateWanted(): void {
    const seen = new Set<string>();
    for (const topic of this.wanted.keys()) {
      const prefix = queryPrefixFor(topic);
      if (prefix === null || seen.has(prefix.join("/"))) continue;
      seen.add(prefix.join("/"));
      void this.sink.invalidateQueries({ queryKey: prefix });
    }
  }

  private applyModelStatus(event: ModelStatusChanged): void {
    this.patchOrRefetch(HUB_KEY, (old: ReadonlyArray<HubItem>) => patchModel(old, event), MODELS_PREFIX);
  }

  private applyNodeStatus(event: NodeStatusChanged): void {
    this.patchOrRefetch(NODES_KEY, (old: ReadonlyArray<Node>) => patchNodeStatus(old, event), NODES_KEY);
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

  private applyMetrics(event: MetricsUpdated): void {
    this.sink.setQueryData(NODES_KEY, (old) =>
      old === undefined ? undefined : patchMetrics(old as ReadonlyArray<Node>, [event]),
    );
  }

  // ---- helpers ----

  private clearTimer(name: "reconnectTimer" | "watchdogTimer" | "healthyTimer"): void {
    const handle = this[name];
    if (handle !== null) this.clock.clearTimeout(handle);
    this[name] = null;
  }

  private updateState(): void {
    let next: ConnectionState;
    if (this.open) next = "live";
    else if (!this.browserOnline || this.failures >= this.offlineAfterFailures || this.authFailed !== null)
      next = "offline";
    else next = "reconnecting";
    if (next === this.state) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener();
  }
}

type ServerFrameItems = Extract<ServerFrame, { type: "Snapshot" }>["items"];

/** The production socket factory: same-origin /ws; the browser sends the modelhub_token cookie. */
export function browserSocketFactory(path = "/ws"): SocketFactory {
  return (handlers) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${path}`);
    socket.onopen = () => handlers.onOpen();
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data === "string") handlers.onMessage(event.data);
    };
    socket.onclose = (event: CloseEvent) => handlers.onClose(event.code, event.reason);
    return socket;
  };
}
