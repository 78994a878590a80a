// Copies Swagger UI's bundle, standalone preset and stylesheet from swagger-ui-dist (pinned in
// package.json) into dist/docs-assets/, which the runtime serves at /docs-assets/ for its /schema page:
// the API docs then load nothing from a CDN and work on an air-gapped cluster. Run by `npm run build`
// after `vite build` (which empties dist/).
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const FILES = ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"];

const source = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const target = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "docs-assets");
mkdirSync(target, { recursive: true });
for (const file of FILES) {
  copyFileSync(join(source, file), join(target, file));
}
