/*
 * Model Hub dashboard — stable hooks for browser tests
 * ----------------------------------------------------
 * Sign-in form:   textbox labelled "Token", button "Sign in"; errors in role="alert"
 *                 ("That token is not valid"); [data-testid="token-hint"] says where tokens come from.
 *                 Header button "Sign out".
 * Navigation:     links "Model Hub" (/), "Local" (/local), "Nodes" (/nodes) in <nav aria-label="Views">;
 *                 the current one has aria-current="page".
 * Connection:     [data-testid="connection"] with data-state="live" | "reconnecting" | "offline".
 * Role:           [data-testid="role"] text "admin" | "read".
 * Catalog:        [data-testid="catalog-version"] (server's Session.catalog_version),
 *                 [data-testid="ui-catalog-version"] (CATALOG_VERSION the UI was built with).
 * Model cards:    <article aria-label="<model name>" data-model-id="<id>" data-status="available|registered|downloading|ready">
 *                 (Model Hub and Local views); search box labelled "Search models", selects "Status"
 *                 (all|ready|downloading|registered|available) and "Sort by" (name|status|downloads|size),
 *                 kept in the URL (?q=&status=&sort=); [data-testid="no-match"] with button
 *                 "Clear search and filter" when nothing matches.
 *                 Button "Register" (admin, status available), "Unregister" (Model Hub, admin, otherwise;
 *                 dialog "Unregister <name>?"). Button "Delete" (Local, admin).
 *                 Progress: role="progressbar", aria-valuenow 0..100, aria-label "Download progress of <name>".
 *                 Node counts: [data-testid="node-counts"] ("2 ready · 1 downloading · 1 stalled");
 *                 [data-testid="stalled-count"] ("N stalled") when some node's download stalled.
 *                 Per-node rows on Local, after button "Show nodes" (aria-expanded):
 *                 <li data-runtime-id data-state="pending|downloading|ready|failed" data-stalled="true|false"
 *                 data-offline="true|false">, [data-testid="node-offline"] ("node offline") on an offline node's row,
 *                 failed and stalled first, 50 at a time ("Showing 50 of N nodes", button "Show more").
 * Node rows:      <li aria-label="<machine name>" data-runtime-id="<id>" data-status="pending|registering|online|offline"
 *                 data-synced="true|false">; badge "synced" / "not synced";
 *                 buttons "Approve" (admin, pending) and "Delete" (admin); metrics <dl data-stale="true|false">
 *                 and a "stale" marker when metrics_stale; a pending node shows [data-testid="waiting-approval"]
 *                 ("Waiting for approval — retrying") instead of its last heartbeat. Button "Show models" → [data-testid="models-ready"]
 *                 ("2 of 3 models ready") and one <li data-model-id data-state> per model.
 * Confirmation:   role="dialog" (native <dialog>, modal) named after its title ("Delete <name>?");
 *                 buttons "Cancel" and "Delete" — scope with getByRole("dialog"). Escape closes it.
 * Read-only role: no Register / Unregister / Delete / Approve buttons are rendered at all (only the show/hide toggles).
 */
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, type MouseEvent, useCallback, useEffect, useId, useState } from "react";
import { CATALOG_VERSION, type Role, type Session } from "@generated";
import { errorText } from "./api/client";
import { sessionQuery } from "./api/queries";
import { INVALID_TOKEN_MESSAGE, useAuth } from "./auth";
import { EventStreamProvider, useConnectionState } from "./live/EventStreamProvider";
import type { AuthCloseCode, ConnectionState } from "./live/stream";
import { HubView } from "./views/HubView";
import { LocalView } from "./views/LocalView";
import { NodesView } from "./views/NodesView";

export function App() {
  const { token } = useAuth();
  return token === null ? <SignIn /> : <Authed key={token} />;
}

// ---- sign-in ----

function SignIn() {
  const { signIn, message } = useAuth();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const inputId = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError("Enter a token");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await signIn(value);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={(event) => void submit(event)} aria-labelledby="signin-title">
        <h1 id="signin-title">Model Hub</h1>
        <p className="muted">Sign in with an admin or read-only token.</p>
        {message && !error ? (
          <p className="notice" role="status">
            {message}
          </p>
        ) : null}
        <label htmlFor={inputId}>Token</label>
        <input
          id={inputId}
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(event) => setToken(event.target.value)}
          aria-invalid={error ? true : undefined}
          autoFocus
        />
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          Sign in
        </button>
        <TokenHint />
      </form>
    </main>
  );
}

/** Where the tokens come from: the server's settings, or the ones `--dev` generates and keeps. */
function TokenHint() {
  return (
    <div className="hint small muted" data-testid="token-hint">
      <p>
        The tokens are the server's <code>MODELHUB_ADMIN_TOKEN</code> and <code>MODELHUB_READ_TOKEN</code> settings.
      </p>
      <p>
        <code>modelhub serve --dev</code> (<code>just serve</code>) generates any that are missing, prints them at
        start and keeps them in <code>dev-tokens.json</code> in the data directory.
      </p>
    </div>
  );
}

// ---- signed in ----

function Authed() {
  const { signOut } = useAuth();
  const session = useQuery(sessionQuery());
  const onAuthFailure = useCallback(
    (code: AuthCloseCode) =>
      signOut(code === 4401 ? INVALID_TOKEN_MESSAGE : "Your token may not do this — sign in with an admin or read token"),
    [signOut],
  );

  if (session.isPending) return <p className="loading muted">Loading…</p>;
  if (session.isError) {
    return (
      <main className="signin">
        <div className="card signin-card">
          <p className="error" role="alert">
            {errorText(session.error)}
          </p>
          <div className="card-actions">
            <button type="button" onClick={() => void session.refetch()}>
              Retry
            </button>
            <button type="button" onClick={() => signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </main>
    );
  }
  return (
    <EventStreamProvider onAuthFailure={onAuthFailure}>
      <Shell session={session.data} />
    </EventStreamProvider>
  );
}

type View = "hub" | "local" | "nodes";

const VIEWS: ReadonlyArray<{ readonly view: View; readonly path: string; readonly label: string }> = [
  { view: "hub", path: "/", label: "Model Hub" },
  { view: "local", path: "/local", label: "Local" },
  { view: "nodes", path: "/nodes", label: "Nodes" },
];

function viewOf(pathname: string): View {
  const path = pathname.replace(/\/+$/, "") || "/";
  return VIEWS.find((entry) => entry.path === path)?.view ?? "hub";
}

/** Client-side routes (the server falls back to index.html). */
function useView(): [View, (view: View) => void] {
  const [view, setView] = useState<View>(() => viewOf(location.pathname));
  useEffect(() => {
    const onPop = () => setView(viewOf(location.pathname));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const go = useCallback((next: View) => {
    const path = VIEWS.find((entry) => entry.view === next)?.path ?? "/";
    if (location.pathname !== path) history.pushState(null, "", path);
    setView(next);
  }, []);
  return [view, go];
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

function ConnectionIndicator() {
  const state = useConnectionState();
  return (
    <span className="connection" data-testid="connection" data-state={state} role="status" aria-live="polite">
      <span className="dot" aria-hidden="true" />
      {CONNECTION_TEXT[state]}
    </span>
  );
}

function Shell({ session }: { readonly session: Session }) {
  const { signOut } = useAuth();
  const [view, go] = useView();
  const role: Role = session.role;

  useEffect(() => {
    const label = VIEWS.find((entry) => entry.view === view)?.label ?? "Model Hub";
    document.title = label === "Model Hub" ? "Model Hub" : `${label} · Model Hub`;
  }, [view]);

  function navigate(event: MouseEvent<HTMLAnchorElement>, next: View) {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    go(next);
  }

  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Model Hub</span>
        <nav aria-label="Views" className="tabs">
          {VIEWS.map((entry) => (
            <a
              key={entry.view}
              href={entry.path}
              aria-current={entry.view === view ? "page" : undefined}
              onClick={(event) => navigate(event, entry.view)}
            >
              {entry.label}
            </a>
          ))}
        </nav>
        <div className="topbar-end">
          <ConnectionIndicator />
          <span className="role" data-testid="role" title="Your role">
            {role}
          </span>
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      {session.catalog_version !== CATALOG_VERSION ? (
        <p className="notice banner" role="status">
          The server's catalog differs from the one this dashboard was built with; reload the page to update.
        </p>
      ) : null}
      <main id="main" tabIndex={-1}>
        {view === "hub" ? <HubView role={role} /> : null}
        {view === "local" ? <LocalView role={role} /> : null}
        {view === "nodes" ? <NodesView role={role} /> : null}
      </main>
      <footer className="footer muted small">
        Catalog <code data-testid="catalog-version">{session.catalog_version}</code> · dashboard built for{" "}
        <code data-testid="ui-catalog-version">{CATALOG_VERSION}</code>
      </footer>
    </div>
  );
}
