// The one HTTP entry point of the dashboard: same-origin fetch with the bearer token,
// throwing a typed ApiError on any non-2xx answer or network failure.
import type { ErrorBody } from "@generated";

const TOKEN_KEY = "modelhub_token";

/** An HTTP call that failed; `status` is 0 and `code` "network_error" when the server could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export const NETWORK_ERROR = "network_error";

/** Plain words for an error, mapped from its code. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    switch (error.code) {
      case "already_registered":
        return "This model is already registered";
      case "not_registered":
        return "This model is not registered";
      case "unauthorized":
        return "Your token is not valid — sign in again";
      case "forbidden":
        return "Your token may not do this";
      case NETWORK_ERROR:
        return "The server cannot be reached";
      default:
        if (error.status === 401) return "Your token is not valid — sign in again";
        if (error.status === 403) return "Your token may not do this";
        return error.message || `The server answered ${error.status}`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const detail = value.error;
  return (
    typeof detail === "object" &&
    detail !== null &&
    typeof (detail as { code?: unknown }).code === "string" &&
    typeof (detail as { message?: unknown }).message === "string"
  );
}

// ---- token storage: localStorage for HTTP. The WebSocket's cookie is the server's to set (HttpOnly,
// Path=/ws) when the session is fetched with POST /v0/session, and to clear on DELETE. ----

export function readToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string): void {
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Private mode: the token lives for this page only (the cookie still works).
  }
}

export function clearToken(): void {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // ignore
  }
  // The server clears the WebSocket cookie; a failure leaves a cookie whose token the page no longer shows.
  void fetch("/v0/session", { method: "DELETE" }).catch(() => undefined);
}

let unauthorizedHandler: (() => void) | null = null;

/** Called when a call made with the stored token answers 401 (the app signs out). */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  unauthorizedHandler = handler;
}

export interface FetchOptions {
  readonly method?: "GET" | "POST" | "DELETE";
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Use this token instead of the stored one (sign-in). */
  readonly token?: string;
}

/** Fetch a same-origin API path; resolves to the parsed JSON (undefined for 204), throws ApiError otherwise. */
export async function apiFetch<T>(path: string, options: FetchOptions = {}): Promise<T> {
  const token = options.token ?? readToken();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const init: RequestInit = { method: options.method ?? "GET", headers };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  if (options.signal) init.signal = options.signal;

  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError(0, NETWORK_ERROR, "The server cannot be reached");
  }
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // not JSON (a proxy error page, say)
    }
    if (response.status === 401 && options.token === undefined) unauthorizedHandler?.();
    if (isErrorBody(body)) throw new ApiError(response.status, body.error.code, body.error.message);
    const code = response.status === 401 ? "unauthorized" : response.status === 403 ? "forbidden" : "http_error";
    throw new ApiError(response.status, code, `The server answered ${response.status} ${response.statusText}`.trim());
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}
