// Nodes: status, metrics and last heartbeat of each node; Approve and Delete for admins.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { Node, Role } from "@generated";
import { errorText } from "../api/client";
import { approveNode, deleteNode, nodesQuery, queryKeys } from "../api/queries";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorText, StatusBadge, useNow } from "../components/bits";
import { formatBytes, formatPercent, relativeTime } from "../format";
import { useConnectionState, useLiveTopics } from "../live/EventStreamProvider";

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
  const approve = useMutation({
    mutationFn: () => approveNode(node.runtime_id),
    onSuccess: (approved) => {
      queryClient.setQueryData<Node[]>(queryKeys.nodes, (old) =>
        old?.map((it) => (it.runtime_id === approved.runtime_id ? approved : it)),
      );
    },
  });
  const remove = useMutation({
    mutationFn: () => deleteNode(node.runtime_id),
    onSuccess: () => {
      setConfirming(false);
      queryClient.setQueryData<Node[]>(queryKeys.nodes, (old) => old?.filter((it) => it.runtime_id !== node.runtime_id));
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
    <li className="card node" aria-label={node.machine_name} data-runtime-id={node.runtime_id} data-status={node.status}>
      <header className="card-head">
        <h2>{node.machine_name}</h2>
        <StatusBadge status={node.status} />
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
      <p className="small">
        {node.metrics_stale ? (
          <span className="stale" title="No heartbeat for a while: these metrics may be out of date">
            stale
          </span>
        ) : null}{" "}
        <span>{`Last heartbeat: ${relativeTime(node.last_heartbeat_at, now)}`}</span>
      </p>
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
