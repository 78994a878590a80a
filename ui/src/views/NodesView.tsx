// Nodes: status, synced flag, metrics and last heartbeat of each node ("waiting for approval" while pending);
// Approve and Delete for admins.
// "Show models" loads the node's detail (GET /v0/nodes/{id}, live through node:<id>) for that card only.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { Node, NodeDetail, Role } from "@generated";
import { errorText } from "../api/client";
import { approveNode, deleteNode, nodeDetailQuery, nodesQuery, queryKeys } from "../api/queries";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorText, StatusBadge, useNow } from "../components/bits";
import { formatBytes, formatPercent, relativeTime } from "../format";
import { useConnectionState, useLiveTopics } from "../live/EventStreamProvider";
import { removeNode, replaceNode, sortRows } from "../live/patches";

export function NodesView({ role }: { readonly role: Role }) {
  useLiveTopics(["nodes", "metrics"]);
  const live = useConnectionState() === "live";
  const nodes = useQuery(nodesQuery(live));
  const now = useNow(5_000);

  return (
    <section aria-labelledby="nodes-title">
      <div className="view-head">
        <h1 id="nodes-title">Nodes</h1>
      </div>
      {nodes.isPending ? <p className="muted">Loading nodes…</p> : null}
      <ErrorText>{nodes.isError ? errorText(nodes.error) : null}</ErrorText>
      {nodes.isSuccess && nodes.data.length === 0 ? (
        <p className="empty">No node has registered yet. Start one with <code>modelhub node</code>.</p>
      ) : null}
      <ul className="grid node-list" aria-label="Nodes">
        {(nodes.data ?? []).map((node) => (
          <NodeRow key={node.runtime_id} node={node} now={now} isAdmin={role === "admin"} />
        ))}
      </ul>
    </section>
  );
}

function NodeRow({ node, now, isAdmin }: { readonly node: Node; readonly now: number; readonly isAdmin: boolean }) {
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [expanded, setExpanded] = useState(false);
  const approve = useMutation({
    mutationFn: () => approveNode(node.runtime_id),
    onSuccess: (approved) => {
      queryClient.setQueryData<Node[]>(queryKeys.nodes, (old) => (old ? replaceNode(old, approved) : old));
    },
  });
  const remove = useMutation({
    mutationFn: () => deleteNode(node.runtime_id),
    onSuccess: () => {
      setConfirming(false);
      queryClient.setQueryData<Node[]>(queryKeys.nodes, (old) => (old ? removeNode(old, node.runtime_id) : old));
      queryClient.removeQueries({ queryKey: queryKeys.nodeDetail(node.runtime_id) });
      void queryClient.invalidateQueries({ queryKey: queryKeys.models });
    },
  });
  const metrics = node.metrics;
  const gpuMemory =
    metrics.gpu_memory_used_bytes === undefined
      ? "—"
      : node.gpu_memory_bytes
        ? `${formatBytes(metrics.gpu_memory_used_bytes)} of ${formatBytes(node.gpu_memory_bytes)}`
        : formatBytes(metrics.gpu_memory_used_bytes);

  return (
    <li
      className="card node"
      aria-label={node.machine_name}
      data-runtime-id={node.runtime_id}
      data-status={node.status}
      data-synced={node.synced ? "true" : "false"}
    >
      <header className="card-head">
        <h2>{node.machine_name}</h2>
        <span className="badges">
          <StatusBadge status={node.status} />
          <StatusBadge status={node.synced ? "synced" : "not-synced"} label={node.synced ? "synced" : "not synced"} />
        </span>
      </header>
      <p className="muted small">
        <code>{node.runtime_id}</code>
      </p>
      <dl className="facts metrics" data-stale={node.metrics_stale ? "true" : "false"}>
        <div>
          <dt>CPU</dt>
          <dd>{formatPercent(metrics.cpu_usage)}</dd>
        </div>
        <div>
          <dt>Memory</dt>
          <dd>{formatPercent(metrics.memory_usage)}</dd>
        </div>
        <div>
          <dt>GPU</dt>
          <dd>{formatPercent(metrics.gpu_usage)}</dd>
        </div>
        <div>
          <dt>GPU memory</dt>
          <dd>{gpuMemory}</dd>
        </div>
        {metrics.active_requests !== undefined ? (
          <div>
            <dt>Requests</dt>
            <dd>{metrics.active_requests}</dd>
          </div>
        ) : null}
      </dl>
      <HeartbeatLine node={node} now={now} />
      <button type="button" className="link-button" aria-expanded={expanded} onClick={() => setExpanded((open) => !open)}>
        {expanded ? "Hide models" : "Show models"}
      </button>
      {expanded ? <NodeModels runtimeId={node.runtime_id} /> : null}
      {isAdmin ? (
        <div className="card-actions">
          {node.status === "pending" ? (
            <button type="button" className="primary" onClick={() => approve.mutate()} disabled={approve.isPending}>
              Approve
            </button>
          ) : null}
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            Delete
          </button>
        </div>
      ) : null}
      <ErrorText>{approve.isError ? errorText(approve.error) : null}</ErrorText>
      <ConfirmDialog
        open={confirming}
        title={`Delete node ${node.machine_name}?`}
        confirmLabel="Delete"
        busy={remove.isPending}
        error={remove.isError ? errorText(remove.error) : null}
        onConfirm={() => remove.mutate()}
        onCancel={() => {
          setConfirming(false);
          remove.reset();
        }}
      >
        <p>
          The node <code>{node.runtime_id}</code> is forgotten. If it is still running it has to register again and be
          approved.
        </p>
      </ConfirmDialog>
    </li>
  );
}

/**
 * The last heartbeat, with a "stale" marker when metrics are old. A pending node has none to show: its
 * heartbeats are refused until an admin approves it, and it keeps retrying — say that instead.
 */
function HeartbeatLine({ node, now }: { readonly node: Node; readonly now: number }) {
  if (node.status === "pending") {
    return (
      <p
        className="small waiting"
        data-testid="waiting-approval"
        title="The node's heartbeats are refused until an admin approves it; it keeps trying"
      >
        Waiting for approval — retrying
      </p>
    );
  }
  return (
    <p className="small">
      {node.metrics_stale ? (
        <span className="stale" title="No heartbeat for a while: these metrics may be out of date">
          stale
        </span>
      ) : null}{" "}
      <span>{`Last heartbeat: ${relativeTime(node.last_heartbeat_at, now)}`}</span>
    </p>
  );
}

/** "2 of 3 models ready" from a node's detail. */
export function readyText(detail: Pick<NodeDetail, "models">): string {
  const ready = detail.models.filter((report) => report.state === "ready").length;
  return `${ready} of ${detail.models.length} models ready`;
}

/** A node's report on each model: subscribed only while shown. */
function NodeModels({ runtimeId }: { readonly runtimeId: string }) {
  useLiveTopics([`node:${runtimeId}`]);
  const live = useConnectionState() === "live";
  const detail = useQuery(nodeDetailQuery(runtimeId, live));
  if (detail.isPending) return <p className="muted small">Loading models…</p>;
  if (detail.isError) return <ErrorText>{errorText(detail.error)}</ErrorText>;
  return (
    <>
      <p className="small" data-testid="models-ready">
        {readyText(detail.data)}
      </p>
      {detail.data.models.length > 0 ? (
        <ul className="node-states" aria-label={`Models on ${detail.data.machine_name}`}>
          {sortRows(detail.data.models, "model_id").map((report) => (
            <li key={report.model_id} data-model-id={report.model_id} data-state={report.state}>
              <div className="node-state-head">
                <span className="node-name">{report.model_id}</span>
                <span className="badges">
                  {report.stalled ? <StatusBadge status="stalled" /> : null}
                  <StatusBadge status={report.state} />
                </span>
              </div>
              <span className="muted small">{`${formatBytes(report.bytes_done)} of ${formatBytes(report.bytes_total)}`}</span>
              {report.state === "failed" && report.error ? <p className="error">{report.error}</p> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}
