// Small presentational pieces shared by the views.
import { useEffect, useState } from "react";
import { progressPercent } from "../format";

export function StatusBadge({ status, label }: { readonly status: string; readonly label?: string }) {
  return (
    <span className="badge" data-badge={status}>
      {label ?? status}
    </span>
  );
}

/** "N stalled", shown only when some node's download stopped growing. */
export function StalledBadge({ count }: { readonly count: number }) {
  if (count <= 0) return null;
  return (
    <span className="badge" data-badge="stalled" title="Downloads whose bytes stopped growing" data-testid="stalled-count">
      {`${count} stalled`}
    </span>
  );
}

/** A determinate progress bar (role="progressbar", aria-valuenow 0..100). */
export function ProgressBar({ progress, label }: { readonly progress: number | null; readonly label: string }) {
  const percent = progressPercent(progress);
  return (
    <div className="progress-row">
      <div
        className="progress"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={`${percent} %`}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <span className="progress-text">{`${percent} %`}</span>
    </div>
  );
}

/** The current time, refreshed every `intervalMs` (for relative times). */
export function useNow(intervalMs = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export function ErrorText({ children }: { readonly children: string | null }) {
  if (!children) return null;
  return (
    <p className="error" role="alert">
      {children}
    </p>
  );
}

/** "node offline" on a per-node row whose node stopped heartbeating: its report may be out of date. */
export function OfflineMarker() {
  return (
    <span
      className="badge"
      data-badge="offline"
      data-testid="node-offline"
      title="This node is offline: its report may be out of date"
    >
      node offline
    </span>
  );
}
