// Model Hub: a card per catalog model, searchable, with Register for admins.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useDeferredValue, useId, useState } from "react";
import type { HubItem, Role } from "@generated";
import { errorText } from "../api/client";
import { hubQuery, queryKeys, registerModel } from "../api/queries";
import { ErrorText, ProgressBar, StalledBadge, StatusBadge, useNow } from "../components/bits";
import { formatBytes, formatCount, formatTokens, relativeTime } from "../format";
import { useConnectionState, useLiveTopics } from "../live/EventStreamProvider";
import { countsText, hubProgress, replaceHubItem } from "../live/patches";

export function matches(item: HubItem, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [item.name, item.description, item.id, ...item.tags].join(" ").toLowerCase();
  return words.every((word) => haystack.includes(word));
}

export function HubView({ role }: { readonly role: Role }) {
  useLiveTopics(["models"]);
  const live = useConnectionState() === "live";
  const hub = useQuery(hubQuery(live));
  const [query, setQuery] = useState("");
  const deferred = useDeferredValue(query);
  const searchId = useId();

  const items = hub.data ?? [];
  const shown = items.filter((item) => matches(item, deferred));

  return (
    <section aria-labelledby="hub-title">
      <div className="view-head">
        <h1 id="hub-title">Model Hub</h1>
        <div className="search">
          <label htmlFor={searchId}>Search models</label>
          <input
            id={searchId}
            type="search"
            value={query}
            placeholder="Name, description or tag"
            onChange={(event) => setQuery(event.target.value)}
          />
        </div>
      </div>
      {hub.isPending ? <p className="muted">Loading models…</p> : null}
      <ErrorText>{hub.isError ? errorText(hub.error) : null}</ErrorText>
      {hub.isSuccess ? (
        <p className="muted" aria-live="polite">
          {shown.length === items.length ? `${items.length} models` : `${shown.length} of ${items.length} models`}
        </p>
      ) : null}
      <div className="grid">
        {shown.map((item) => (
          <ModelCard key={item.id} item={item} canRegister={role === "admin"} />
        ))}
      </div>
    </section>
  );
}

const STATUS_LABEL: Record<HubItem["status"], string> = {
  available: "available",
  registered: "registered",
  downloading: "downloading",
  ready: "ready",
};

function HfStats({ item, now }: { readonly item: HubItem; readonly now: number }) {
  const info = item.hf_info;
  if (!info || info.freshness === "none") {
    return <p className="hf muted">Hugging Face: no data</p>;
  }
  const freshness = info.freshness === "fresh" ? "fresh" : `stale · fetched ${relativeTime(info.fetched_at, now)}`;
  return (
    <p className="hf">
      <span title="Downloads in the last 30 days">{`${formatCount(info.downloads)} downloads`}</span>
      {" · "}
      <span>{`${formatCount(info.likes)} likes`}</span>
      {" · "}
      <span className="freshness" data-freshness={info.freshness}>
        {freshness}
      </span>
    </p>
  );
}

function ModelCard({ item, canRegister }: { readonly item: HubItem; readonly canRegister: boolean }) {
  const queryClient = useQueryClient();
  const now = useNow(30_000);
  const progress = hubProgress(item);
  const summary = item.status === "available" ? "" : countsText(item.node_counts);
  const register = useMutation({
    mutationFn: () => registerModel(item.id),
    onSuccess: (registered) => {
      queryClient.setQueryData<HubItem[]>(queryKeys.hub, (old) => (old ? replaceHubItem(old, registered) : old));
    },
  });

  return (
    <article className="card" aria-label={item.name} data-model-id={item.id} data-status={item.status}>
      <header className="card-head">
        <h2>{item.name}</h2>
        <span className="badges">
          <StalledBadge count={item.node_counts.stalled} />
          <StatusBadge status={item.status} label={STATUS_LABEL[item.status]} />
        </span>
      </header>
      <p className="description">{item.description}</p>
      {item.status === "downloading" || (progress !== null && item.status !== "ready") ? (
        <ProgressBar progress={progress} label={`Download progress of ${item.name}`} />
      ) : null}
      {summary !== "" ? (
        <p className="counts small" data-testid="node-counts">
          {summary}
        </p>
      ) : null}
      <dl className="facts">
        <div>
          <dt>Size</dt>
          <dd>{formatBytes(item.size_bytes)}</dd>
        </div>
        <div>
          <dt>Memory</dt>
          <dd>{formatBytes(item.required_memory_bytes)}</dd>
        </div>
        <div>
          <dt>Context</dt>
          <dd>{item.context_length !== undefined ? formatTokens(item.context_length) : "—"}</dd>
        </div>
        <div>
          <dt>Quantization</dt>
          <dd>{item.quantization ?? "—"}</dd>
        </div>
        {item.parameter_count !== undefined ? (
          <div>
            <dt>Parameters</dt>
            <dd>{item.parameter_count}</dd>
          </div>
        ) : null}
      </dl>
      <ul className="chips" aria-label="Capabilities">
        {item.capabilities.map((capability) => (
          <li key={capability} className="chip chip-cap">
            {capability}
          </li>
        ))}
      </ul>
      <ul className="chips" aria-label="Tags">
        {item.tags.map((tag) => (
          <li key={tag} className="chip">
            {tag}
          </li>
        ))}
      </ul>
      <HfStats item={item} now={now} />
      {canRegister && item.status === "available" ? (
        <div className="card-actions">
          <button type="button" className="primary" onClick={() => register.mutate()} disabled={register.isPending}>
            {register.isPending ? "Registering…" : "Register"}
          </button>
        </div>
      ) : null}
      <ErrorText>{register.isError ? errorText(register.error) : null}</ErrorText>
    </article>
  );
}
