// Local: the registered models (status ≠ available) with their per-state node counts; each card's
// per-node rows load on demand (Show nodes) from GET /v0/models/{id}, kept live by the model:<id> topic,
// failed and stalled first, 50 at a time, a row whose node is offline marked. Delete behind a confirmation.
import { useQuery } from "@tanstack/react-query";
import { memo, useState } from "react";
import type { HubItem, Node, NodeModelDetail, Role } from "@generated";
import { errorText } from "../api/client";
import { hubQuery, modelDetailQuery, nodesQuery, orphanedQuery } from "../api/queries";
import { ErrorText, OfflineMarker, ProgressBar, StalledBadge, StatusBadge } from "../components/bits";
import { formatBytes, formatEta, formatRate } from "../format";
import { useConnectionState, useLiveTopics } from "../live/EventStreamProvider";
import { countsText, hubProgress, sortRows } from "../live/patches";
import { UnregisterAction } from "./UnregisterAction";

/** Rows shown at first and added by each "Show more". */
export const PAGE_SIZE = 50;

export function LocalView({ role }: { readonly role: Role }) {
  useLiveTopics(["models", "nodes"]);
  const live = useConnectionState() === "live";
  const hub = useQuery(hubQuery(live));
  const nodes = useQuery(nodesQuery(live));
  const orphaned = useQuery(orphanedQuery());
  const registered = (hub.data ?? []).filter((item) => item.status !== "available");
  const known = nodeMap(nodes.data ?? []);

  return (
    <section aria-labelledby="local-title">
      <div className="view-head">
        <h1 id="local-title">Local models</h1>
      </div>
      {hub.isPending ? <p className="muted">Loading models…</p> : null}
      <ErrorText>{hub.isError ? errorText(hub.error) : null}</ErrorText>
      {hub.isSuccess && registered.length === 0 ? (
        <p className="empty">No model is registered yet. Register one on the Model Hub tab.</p>
      ) : null}
      <div className="grid">
        {registered.map((item) => (
          <LocalCard key={item.id} item={item} nodes={known} canDelete={role === "admin"} />
        ))}
      </div>
      {orphaned.data && orphaned.data.length > 0 ? (
        <section aria-labelledby="orphaned-title">
          <h2 id="orphaned-title">Not in this release's catalog</h2>
          <p className="muted small">
            Registered before a catalog release removed them: not served, their files kept on the nodes until deleted.
          </p>
          <div className="grid">
            {orphaned.data.map((registration) => (
              <article
                key={registration.model_id}
                className="card"
                aria-label={registration.model_id}
                data-model-id={registration.model_id}
                data-status="orphaned"
              >
                <header className="card-head">
                  <h2>{registration.model_id}</h2>
                </header>
                <p className="muted small">registered {registration.registered_at}</p>
                {role === "admin" ? (
                  <UnregisterAction item={{ id: registration.model_id, name: registration.model_id }} label="Delete" />
                ) : null}
              </article>
            ))}
          </div>
        </section>
      ) : null}
    </section>
  );
}

/** What a per-node row shows of its node: the machine name and whether it is offline. */
export type NodeInfo = Pick<Node, "machine_name" | "status">;

export function nodeMap(nodes: ReadonlyArray<Node>): ReadonlyMap<string, NodeInfo> {
  return new Map(nodes.map((node) => [node.runtime_id, node]));
}

/** Nodes that reported the model, offline ones included. */
function reportCount(item: HubItem): number {
  const counts = item.node_counts;
  return counts.pending + counts.downloading + counts.ready + counts.failed + counts.offline;
}

function LocalCard({
  item,
  nodes,
  canDelete,
}: {
  readonly item: HubItem;
  readonly nodes: ReadonlyMap<string, NodeInfo>;
  readonly canDelete: boolean;
}) {
  const [expanded, setExpanded] = useState(false);
  const progress = hubProgress(item);
  const summary = countsText(item.node_counts);
  const reports = reportCount(item);

  return (
    <article className="card" aria-label={item.name} data-model-id={item.id} data-status={item.status}>
      <header className="card-head">
        <h2>{item.name}</h2>
        <span className="badges">
          <StalledBadge count={item.node_counts.stalled} />
          <StatusBadge status={item.status} />
        </span>
      </header>
      <p className="muted small">
        {item.repo} · {formatBytes(item.size_bytes)}
      </p>
      {progress !== null && item.status !== "ready" ? (
        <ProgressBar progress={progress} label={`Download progress of ${item.name}`} />
      ) : null}
      <p className="counts small" data-testid="node-counts">
        {summary === "" ? "No node has reported this model yet." : summary}
      </p>
      {reports > 0 || expanded ? (
        <button
          type="button"
          className="link-button"
          aria-expanded={expanded}
          onClick={() => setExpanded((open) => !open)}
        >
          {expanded ? "Hide nodes" : "Show nodes"}
        </button>
      ) : null}
      {expanded ? <ModelNodes item={item} nodes={nodes} /> : null}
      {canDelete ? <UnregisterAction item={item} label="Delete" /> : null}
    </article>
  );
}

/** The per-node rows of one model: subscribed only while shown. */
export function ModelNodes({ item, nodes }: { readonly item: HubItem; readonly nodes: ReadonlyMap<string, NodeInfo> }) {
  useLiveTopics([`model:${item.id}`]);
  const live = useConnectionState() === "live";
  const detail = useQuery(modelDetailQuery(item.id, live));
  const [limit, setLimit] = useState(PAGE_SIZE);

  if (detail.isPending) return <p className="muted small">Loading nodes…</p>;
  if (detail.isError) return <ErrorText>{errorText(detail.error)}</ErrorText>;
  const rows = sortRows(detail.data.nodes);
  if (rows.length === 0) return <p className="muted">No node has reported this model yet.</p>;
  const shown = rows.slice(0, limit);
  return (
    <>
      <ul className="node-states" aria-label={`Nodes of ${item.name}`}>
        {shown.map((row) => (
          <NodeModelRow
            key={row.runtime_id}
            row={row}
            name={nodes.get(row.runtime_id)?.machine_name}
            offline={nodes.get(row.runtime_id)?.status === "offline"}
            modelName={item.name}
          />
        ))}
      </ul>
      <p className="muted small" aria-live="polite">
        {shown.length === rows.length ? `${rows.length} nodes` : `Showing ${shown.length} of ${rows.length} nodes`}
      </p>
      {shown.length < rows.length ? (
        <button type="button" className="link-button" onClick={() => setLimit((n) => n + PAGE_SIZE)}>
          Show more
        </button>
      ) : null}
    </>
  );
}

/** One node's row, marked when its node is offline; memoised: an event replaces one row object and leaves the others' identity alone. */
const NodeModelRow = memo(function NodeModelRow({
  row,
  name,
  offline,
  modelName,
}: {
  readonly row: NodeModelDetail;
  readonly name: string | undefined;
  readonly offline: boolean;
  readonly modelName: string;
}) {
  const label = name ?? row.runtime_id;
  return (
    <li
      data-runtime-id={row.runtime_id}
      data-state={row.state}
      data-stalled={row.stalled ? "true" : "false"}
      data-offline={offline ? "true" : "false"}
    >
      <div className="node-state-head">
        <span className="node-name">
          {label}
          {name !== undefined && name !== row.runtime_id ? (
            <>
              {" "}
              <code className="muted small">{row.runtime_id}</code>
            </>
          ) : null}
        </span>
        <span className="badges">
          {offline ? <OfflineMarker /> : null}
          {row.stalled ? <StatusBadge status="stalled" /> : null}
          <StatusBadge status={row.state} />
        </span>
      </div>
      {row.state === "downloading" ? (
        <ProgressBar
          progress={row.bytes_total > 0 ? row.bytes_done / row.bytes_total : null}
          label={`Download progress of ${modelName} on ${label}`}
        />
      ) : null}
      <span className="row-facts muted small">
        <span>{`${formatBytes(row.bytes_done)} of ${formatBytes(row.bytes_total)}`}</span>
        {row.state === "downloading" ? (
          <>
            <span title="Download rate">{formatRate(row.bytes_per_second)}</span>
            <span title="Time left">{`ETA ${formatEta(row.eta_seconds)}`}</span>
          </>
        ) : null}
      </span>
      {row.state === "failed" && row.error ? <p className="error">{row.error}</p> : null}
    </li>
  );
});
