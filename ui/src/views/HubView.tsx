// Model Hub: a card per catalog model; search, status filter and sort kept in the URL (hubState.ts);
// Register (available) and Unregister behind a confirmation (registered, downloading, ready) for admins.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useDeferredValue, useId } from "react";
import type { HubItem, Role } from "@generated";
import { errorText } from "../api/client";
import { hubQuery, queryKeys, registerModel } from "../api/queries";
import { ErrorText, ProgressBar, StalledBadge, StatusBadge, useNow } from "../components/bits";
import { formatBytes, formatCount, formatTokens, relativeTime } from "../format";
import { useConnectionState, useLiveTopics } from "../live/EventStreamProvider";
import { countsText, hubProgress, replaceHubItem } from "../live/patches";
import {
  describeFilter,
  filterAndSort,
  type HubState,
  SORT_KEYS,
  type SortKey,
  STATUS_FILTERS,
  type StatusFilter,
  useHubState,
} from "./hubState";
import { UnregisterAction } from "./UnregisterAction";

export function HubView({ role }: { readonly role: Role }) {
  useLiveTopics(["models"]);
  const live = useConnectionState() === "live";
  const hub = useQuery(hubQuery(live));
  const [state, update] = useHubState();
  const deferredQuery = useDeferredValue(state.q);

  const items = hub.data ?? [];
  const shown = filterAndSort(items, { ...state, q: deferredQuery });
  const clear = () => update({ q: "", status: "all" });

  return (
    <section aria-labelledby="hub-title">
      <div className="view-head">
        <h1 id="hub-title">Model Hub</h1>
        <HubControls state={state} update={update} />
      </div>
      {hub.isPending ? <p className="muted">Loading models…</p> : null}
      <ErrorText>{hub.isError ? errorText(hub.error) : null}</ErrorText>
      {hub.isSuccess ? (
        <p className="muted" aria-live="polite">
          {shown.length === items.length ? `${items.length} models` : `${shown.length} of ${items.length} models`}
        </p>
      ) : null}
      {hub.isSuccess && items.length > 0 && shown.length === 0 ? (
        <NoMatch filter={{ q: deferredQuery, status: state.status }} onClear={clear} />
      ) : null}
      <div className="grid">
        {shown.map((item) => (
          <ModelCard key={item.id} item={item} isAdmin={role === "admin"} />
        ))}
      </div>
    </section>
  );
}

type UpdateHubState = (next: Partial<HubState>, mode?: "push" | "replace") => void;

/** Search box, status filter and sort; their values live in the URL (useHubState). */
function HubControls({ state, update }: { readonly state: HubState; readonly update: UpdateHubState }) {
  const searchId = useId();
  const statusId = useId();
  const sortId = useId();
  return (
    <div className="hub-controls">
      <div className="search">
        <label htmlFor={searchId}>Search models</label>
        <input
          id={searchId}
          type="search"
          value={state.q}
          placeholder="Name, description or tag"
          onChange={(event) => update({ q: event.target.value }, "replace")}
        />
      </div>
      <div className="field">
        <label htmlFor={statusId}>Status</label>
        <select
          id={statusId}
          value={state.status}
          onChange={(event) => update({ status: event.target.value as StatusFilter })}
        >
          {STATUS_FILTERS.map((choice) => (
            <option key={choice.value} value={choice.value}>
              {choice.label}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={sortId}>Sort by</label>
        <select id={sortId} value={state.sort} onChange={(event) => update({ sort: event.target.value as SortKey })}>
          {SORT_KEYS.map((choice) => (
            <option key={choice.value} value={choice.value}>
              {choice.label}
            </option>
          ))}
        </select>
      </div>
    </div>
  );
}

/** Nothing matches: say which search and filter, and offer to clear them. */
function NoMatch({ filter, onClear }: { readonly filter: Pick<HubState, "q" | "status">; readonly onClear: () => void }) {
  return (
    <div className="empty" data-testid="no-match">
      <p>{`No model matches ${describeFilter(filter)}.`}</p>
      <button type="button" onClick={onClear}>
        Clear search and filter
      </button>
    </div>
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

function ModelCard({ item, isAdmin }: { readonly item: HubItem; readonly isAdmin: boolean }) {
  const queryClient = useQueryClient();
  const now = useNow(30_000);
  const progress = hubProgress(item);
  const summary =
    item.status === "available" ? "" : countsText(item.node_counts) || "No node has reported this model yet.";
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
      {isAdmin && item.status === "available" ? (
        <div className="card-actions">
          <button type="button" className="primary" onClick={() => register.mutate()} disabled={register.isPending}>
            {register.isPending ? "Registering…" : "Register"}
          </button>
        </div>
      ) : null}
      {isAdmin && item.status !== "available" ? <UnregisterAction item={item} label="Unregister" /> : null}
      <ErrorText>{register.isError ? errorText(register.error) : null}</ErrorText>
    </article>
  );
}

/** Unregister on a registered card: the confirmation dialog, then DELETE /v0/models/{id}. */
