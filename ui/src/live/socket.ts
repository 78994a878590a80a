// The socket: one connection at a time to /ws, reconnecting with backoff, a watchdog for silent sockets,
// and the connection state. It knows nothing of topics or the cache: it hands text frames on.
//   - Reconnect: exponential backoff with full jitter, delay = random() * min(30 s, 1 s * 2^(attempt-1));
//     attempts reset once a connection has stayed open for 5 s.
//   - No frame for 40 s (the server sends Heartbeat every 15 s) → the socket is treated as dead and replaced.
//   - Close code 4401 (no/unknown token) or 4403 (wrong kind of token) → stop for good and report it.
//   - Connection state: "live" while a socket is open; "offline" when the browser says it is offline or
//     3 or more consecutive attempts failed; "reconnecting" otherwise.

export type ConnectionState = "live" | "reconnecting" | "offline";

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

/** Close code the client uses when it gives up on a silent socket. */
export const DEAD_SOCKET_CODE = 4000;

export interface SocketOptions {
  readonly socketFactory: SocketFactory;
  readonly clock?: Clock;
  readonly onAuthFailure?: (code: AuthCloseCode) => void;
  readonly log?: (message: string, detail?: unknown) => void;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly deadAfterMs?: number;
  readonly healthyAfterMs?: number;
  readonly offlineAfterFailures?: number;
}

export interface SocketCallbacks {
  /** A socket opened (the first one or a replacement). */
  onConnected(): void;
  /** The open socket is gone (closed, dead or stopped). */
  onDisconnected(): void;
  onMessage(data: string): void;
}

export class ReconnectingSocket {
  private readonly factory: SocketFactory;
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
  private browserOnline = true;
  private state: ConnectionState = "reconnecting";
  private readonly listeners = new Set<() => void>();
  private reconnectTimer: TimerHandle | null = null;
  private watchdogTimer: TimerHandle | null = null;
  private healthyTimer: TimerHandle | null = null;

  constructor(
    options: SocketOptions,
    private readonly callbacks: SocketCallbacks,
  ) {
    this.factory = options.socketFactory;
    this.clock = options.clock ?? systemClock;
    this.onAuthFailure = options.onAuthFailure ?? (() => {});
    this.log = options.log ?? ((message, detail) => console.warn(`[event stream] ${message}`, detail ?? ""));
    this.baseDelayMs = options.baseDelayMs ?? 1_000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.deadAfterMs = options.deadAfterMs ?? 40_000;
    this.healthyAfterMs = options.healthyAfterMs ?? 5_000;
    this.offlineAfterFailures = options.offlineAfterFailures ?? 3;
  }

  start(): void {
    if (this.running || this.authFailed !== null) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    this.clearTimer("reconnectTimer");
    this.dropSocket(1000, "client closed");
    this.updateState();
  }

  isOpen(): boolean {
    return this.open;
  }

  /** Send on the open socket; false when there is none (the op is dropped). */
  send(data: string): boolean {
    if (!this.socket || !this.open) return false;
    try {
      this.socket.send(data);
      return true;
    } catch (error) {
      this.log("send failed", error);
      return false;
    }
  }

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

  getAuthFailure(): AuthCloseCode | null {
    return this.authFailed;
  }

  onStateChange = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private connect(): void {
    this.reconnectTimer = null;
    if (!this.running) return;
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    try {
      this.socket = this.factory({
        onOpen: () => {
          if (current()) this.handleOpen();
        },
        onMessage: (data) => {
          if (current()) {
            this.armWatchdog();
            this.callbacks.onMessage(data);
          }
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
    this.callbacks.onConnected();
    this.updateState();
  }

  private handleClosed(code: number): void {
    const wasOpen = this.open;
    this.generation++;
    this.socket = null;
    this.open = false;
    this.clearTimer("watchdogTimer");
    this.clearTimer("healthyTimer");
    if (wasOpen) this.callbacks.onDisconnected();
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
    const wasOpen = this.open;
    this.generation++;
    this.socket = null;
    this.open = false;
    this.clearTimer("watchdogTimer");
    this.clearTimer("healthyTimer");
    if (wasOpen) this.callbacks.onDisconnected();
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
