// Local: the registered models (status ≠ available) with each node's state; Delete behind a confirmation.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { HubItem, Node, Role } from "@generated";
import { errorText } from "../api/client";
import { deleteModel, hubQuery, nodesQuery, queryKeys } from "../api/queries";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorText, ProgressBar, StatusBadge } from "../components/bits";
import { formatBytes } from "../format";
import { useConnectionState, useLiveTopics } from "../live/EventStreamProvider";

export function LocalView({ role }: { readonly role: Role }) {
  useLiveTopics(["models", "nodes", "metrics"]);
  const live = useConnectionState() === "live";
  const hub = useQuery(hubQuery(live));
  const nodes = useQuery(nodesQuery(live));
  const registered = (hub.data ?? []).filter((item) => item.status !== "available");
  const names = new Map((nodes.data ?? []).map((node: Node) => [node.runtime_id, node.machine_name]));

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
          <LocalCard key={item.id} item={item} names={names} canDelete={role === "admin"} />
        ))}
      </div>
    </section>
  );
}

function LocalCard({
  item,
  names,
  canDelete,
}: {
  readonly item: HubItem;
  readonly names: ReadonlyMap<string, string>;
  readonly canDelete: boolean;
}) {
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation({
    mutationFn: () => deleteModel(item.id),
    onSuccess: () => {
      setConfirming(false);
      queryClient.setQueryData<HubItem[]>(queryKeys.hub, (old) =>
        old?.map((it) => (it.id === item.id ? { ...it, status: "available", progress: null, nodes: [] } : it)),
      );
      void queryClient.invalidateQueries({ queryKey: queryKeys.models });
    },
  });

  return (
    <article className="card" aria-label={item.name} data-model-id={item.id} data-status={item.status}>
      <header className="card-head">
        <h2>{item.name}</h2>
        <StatusBadge status={item.status} />
      </header>
      <p className="muted small">
        {item.repo} · {formatBytes(item.size_bytes)}
      </p>
      {item.progress !== null && item.status !== "ready" ? (
        <ProgressBar progress={item.progress} label={`Download progress of ${item.name}`} />
      ) : null}
      {item.nodes.length === 0 ? (
        <p className="muted">No node has reported this model yet.</p>
      ) : (
        <ul className="node-states" aria-label={`Nodes of ${item.name}`}>
          {item.nodes.map((progress) => (
            <li key={progress.runtime_id} data-runtime-id={progress.runtime_id} data-state={progress.state}>
              <div className="node-state-head">
                <span className="node-name">{names.get(progress.runtime_id) ?? progress.runtime_id}</span>
                <StatusBadge status={progress.state} />
              </div>
              {progress.state === "downloading" ? (
                <ProgressBar
                  progress={progress.bytes_total > 0 ? progress.bytes_done / progress.bytes_total : null}
                  label={`Download progress of ${item.name} on ${names.get(progress.runtime_id) ?? progress.runtime_id}`}
                />
              ) : null}
              <span className="muted small">
                {`${formatBytes(progress.bytes_done)} of ${formatBytes(progress.bytes_total)}`}
              </span>
              {progress.state === "failed" && progress.error ? <p className="error">{progress.error}</p> : null}
            </li>
          ))}
        </ul>
      )}
      {canDelete ? (
        <div className="card-actions">
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            Delete
          </button>
        </div>
      ) : null}
      <ConfirmDialog
        open={confirming}
        title={`Delete ${item.name}?`}
        confirmLabel="Delete"
        busy={remove.isPending}
        error={remove.isError ? errorText(remove.error) : null}
        onConfirm={() => remove.mutate()}
        onCancel={() => {
          setConfirming(false);
          remove.reset();
        }}
      >
        <p>The model is unregistered and every node removes its files. You can register it again later.</p>
      </ConfirmDialog>
    </article>
  );
}
