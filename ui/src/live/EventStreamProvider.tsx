// The one WebSocket of the app: created at the root, shared by every view through context.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, type ReactNode, useContext, useEffect, useState, useSyncExternalStore } from "react";
import type { Topic } from "@generated";
import { type AuthCloseCode, browserSocketFactory, type ConnectionState, EventStream } from "./stream";

const StreamContext = createContext<EventStream | null>(null);

export function EventStreamProvider({
  children,
  onAuthFailure,
}: {
  readonly children: ReactNode;
  readonly onAuthFailure: (code: AuthCloseCode) => void;
}) {
  const queryClient = useQueryClient();
  const [stream] = useState(() => new EventStream({ socketFactory: browserSocketFactory(), sink: queryClient }));

  // 4401/4403: the stream stops for good; tell the app (it signs out).
  useEffect(
    () =>
      stream.onStateChange(() => {
        const code = stream.getAuthFailure();
        if (code !== null) onAuthFailure(code);
      }),
    [stream, onAuthFailure],
  );

  useEffect(() => {
    const online = () => stream.setBrowserOnline(true);
    const offline = () => stream.setBrowserOnline(false);
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    stream.start();
    stream.setBrowserOnline(navigator.onLine);
    return () => {
      window.removeEventListener("online", online);
      window.removeEventListener("offline", offline);
      stream.stop();
    };
  }, [stream]);

  return <StreamContext.Provider value={stream}>{children}</StreamContext.Provider>;
}

/** The app's event stream (one socket for the whole app). */
export function useEventStream(): EventStream {
  const stream = useContext(StreamContext);
  if (!stream) throw new Error("useEventStream outside EventStreamProvider");
  return stream;
}

export function useConnectionState(): ConnectionState {
  const stream = useEventStream();
  const read = () => stream.getState();
  return useSyncExternalStore(stream.onStateChange, read, read);
}

/** Keep these topics subscribed while the calling component is mounted. */
export function useLiveTopics(topics: ReadonlyArray<Topic>): void {
  const stream = useEventStream();
  const key = topics.join("\n");
  useEffect(() => stream.retain(key.split("\n")), [stream, key]);
}
