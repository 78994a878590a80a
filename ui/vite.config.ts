// Vite (build + dev server) and Vitest configuration for the Model Hub dashboard.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const generated = decodeURIComponent(new URL("../generated/typescript", import.meta.url).pathname);
const backend = "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  resolve: {
    // Keep in step with compilerOptions.paths in tsconfig.json.
    alias: [
      { find: /^@generated$/, replacement: `${generated}/index.ts` },
      { find: /^@generated\/(.*)$/, replacement: `${generated}/$1` },
    ],
  },
  server: {
    fs: { allow: [".", generated] },
    proxy: {
      "/v0": backend,
      "/v1": backend,
      "/healthz": backend,
      "/ws": { target: backend, ws: true },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // Deterministic output: content-hashed names, no timestamps, one CSS file.
    cssCodeSplit: false,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
