// The WebSocket-to-cache logic, framework-free so Vitest can drive it with a fake socket and a fake clock.
//
// One EventStream per app (see EventStreamProvider). It joins three parts:
//   - ./socket: one socket to /ws with reconnect, backoff, the watchdog and the connection state;
//   - ./topics: topic reference counting over the mounted views, seq de-duplication and resume;
//   - ./cache: Snapshot and event → query cache writes (ResyncRequired refetches the subscribed queries).
// Frames are decoded by ./frames, which ignores fields it does not know.
import type { ClientOp, ServerFrame, Topic } from "@generated";
import { type CacheSink, CacheWriter } from "./cache";
import { decodeFrame } from "./frames";
import { type AuthCloseCode, type ConnectionState, ReconnectingSocket, type SocketOptions } from "./socket";
import { TopicSubscriptions } from "./topics";

export type { CacheSink, QueryKeyLike } from "./cache";
export {
  type AuthCloseCode,
  browserSocketFactory,
  type Clock,
  type ConnectionState,
  DEAD_SOCKET_CODE,
  type SocketFactory,
  type SocketHandlers,
  type SocketLike,
  systemClock,
  type TimerHandle,
} from "./socket";

export interface EventStreamOptions extends SocketOptions {
  readonly sink: CacheSink;
}

export class EventStream {
  private readonly socket: ReconnectingSocket;
  private readonly topics: TopicSubscriptions;
  private readonly cache: CacheWriter;
  private readonly log: (message: string, detail?: unknown) => void;

  constructor(options: EventStreamOptions) {
    this.log = options.log ?? ((message, detail) => console.warn(`[event stream] ${message}`, detail ?? ""));
    this.cache = new CacheWriter(options.sink, this.log);
    this.socket = new ReconnectingSocket(
      { ...options, log: this.log },
      {
        onConnected: () => this.topics.connected(),
        onDisconnected: () => this.topics.disconnected(),
        onMessage: (data) => this.handleMessage(data),
      },
    );
    this.topics = new TopicSubscriptions((op: ClientOp) => this.socket.send(JSON.stringify(op)));
  }

  start(): void {
    this.socket.start();
  }

  /** Close the socket and stop reconnecting (unmount, sign-out). */
  stop(): void {
    this.socket.stop();
  }

  /** Ask for topics; returns a release function. Topics are reference-counted over all callers. */
  retain(topics: ReadonlyArray<Topic>): () => void {
    return this.topics.retain(topics);
  }

  /** Feed the browser's online/offline events in; coming back online reconnects at once. */
  setBrowserOnline(online: boolean): void {
    this.socket.setBrowserOnline(online);
  }

  getState(): ConnectionState {
    return this.socket.getState();
  }

  getLastSeq(): number | null {
    return this.topics.getLastSeq();
  }

  getAuthFailure(): AuthCloseCode | null {
    return this.socket.getAuthFailure();
  }

  /** Listen for connection-state changes (useSyncExternalStore-shaped). */
  onStateChange = (listener: () => void): (() => void) => this.socket.onStateChange(listener);

  private handleMessage(data: string): void {
    const decoded = decodeFrame(data);
    if ("error" in decoded) {
      this.log(decoded.error, decoded.detail);
      return;
    }
    this.handleFrame(decoded.frame);
  }

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "Subscribed":
        this.topics.subscribed(frame.topics, frame.seq);
        return;
      case "Snapshot":
        this.cache.applySnapshot(frame.topic, frame.items);
        return;
      case "ResyncRequired":
        this.cache.invalidate(this.topics.topics());
        return;
      case "Heartbeat":
      case "Pong":
        return;
      case "Error":
        this.log(`server rejected a frame: ${frame.code}: ${frame.message}`);
        return;
      default:
        if (this.topics.accept(frame.seq)) this.cache.applyEvent(frame);
    }
  }
}
