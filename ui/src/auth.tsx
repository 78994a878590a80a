// Sign-in state: the token (localStorage for HTTP; the server sets the WebSocket's cookie) and the sign-out message.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { Session } from "@generated";
import { ApiError, apiFetch, clearToken, errorText, readToken, setUnauthorizedHandler, storeToken } from "./api/client";
import { queryKeys } from "./api/queries";

export const INVALID_TOKEN_MESSAGE = "Your token is not valid — sign in again";

interface AuthValue {
  readonly token: string | null;
  /** Why the user was signed out, shown above the sign-in form. */
  readonly message: string | null;
  /** Validate the token with POST /v0/session (which sets the WebSocket cookie) and keep it; throws an Error with a message for people. */
  readonly signIn: (token: string) => Promise<void>;
  readonly signOut: (message?: string) => void;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({ children }: { readonly children: ReactNode }) {
  const queryClient = useQueryClient();
  const [token, setToken] = useState<string | null>(() => readToken());
  const [message, setMessage] = useState<string | null>(null);

  const signOut = useCallback(
    (why?: string) => {
      clearToken();
      queryClient.clear();
      setToken(null);
      setMessage(why ?? null);
    },
    [queryClient],
  );

  const signIn = useCallback(
    async (candidate: string) => {
      let session: Session;
      try {
        session = await apiFetch<Session>("/v0/session", { method: "POST", token: candidate });
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) throw new Error("That token is not valid", { cause: error });
        throw new Error(errorText(error), { cause: error });
      }
      if (session.role === "node") {
        throw new Error("This is a node token — sign in with an admin or read token");
      }
      storeToken(candidate);
      queryClient.clear();
      queryClient.setQueryData(queryKeys.session, session);
      setMessage(null);
      setToken(candidate);
    },
    [queryClient],
  );

  useEffect(() => {
    setUnauthorizedHandler(() => signOut(INVALID_TOKEN_MESSAGE));
    return () => setUnauthorizedHandler(null);
  }, [signOut]);

  const value = useMemo<AuthValue>(() => ({ token, message, signIn, signOut }), [token, message, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}
