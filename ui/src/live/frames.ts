// Decoding of server frames: JSON with a known `type` and the fields the dashboard reads.
// Extra fields are ignored (a newer server may add some); a frame missing a field it needs is rejected.
import type { ServerFrame } from "@generated";

type Check = (value: unknown) => boolean;

const isNumber: Check = (value) => typeof value === "number" && Number.isFinite(value);
const isString: Check = (value) => typeof value === "string";
const isBool: Check = (value) => typeof value === "boolean";
const isObject: Check = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const isArray: Check = (value) => Array.isArray(value);
const orNull =
  (check: Check): Check =>
  (value) =>
    value === null || check(value);

const EVENT: Record<string, Check> = { seq: isNumber, ts: isString };

/** The fields each frame type must carry (more may be present). */
const REQUIRED: Record<ServerFrame["type"], Record<string, Check>> = {
  Subscribed: { topics: isArray, seq: isNumber },
  Snapshot: { topic: isString, items: isArray },
  ResyncRequired: {},
  Heartbeat: {},
  Pong: {},
  Error: { code: isString, message: isString },
  ModelStatusChanged: {
    ...EVENT,
    model_id: isString,
    status: isString,
    progress: orNull(isNumber),
    node_counts: isObject,
    bytes_done: isNumber,
    bytes_total: isNumber,
  },
  NodeModelChanged: {
    ...EVENT,
    model_id: isString,
    runtime_id: isString,
    state: orNull(isString),
    bytes_done: isNumber,
    bytes_total: isNumber,
    bytes_per_second: orNull(isNumber),
    eta_seconds: orNull(isNumber),
    stalled: isBool,
    error: orNull(isString),
  },
  NodeStatusChanged: { ...EVENT, runtime_id: isString, status: orNull(isString), synced: isBool },
  MetricsUpdated: { ...EVENT, runtime_id: isString, metrics: isObject, stale: isBool },
  HfStatsUpdated: { ...EVENT, model_id: isString, hf_info: orNull(isObject) },
};

export type Decoded = { readonly frame: ServerFrame } | { readonly error: string; readonly detail?: unknown };

/** Parse one text frame. Unknown fields are kept but never required; unknown types are an error. */
export function decodeFrame(data: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (error) {
    return { error: "frame is not JSON", detail: error };
  }
  if (!isObject(value)) return { error: "frame without a type", detail: value };
  const record = value as Record<string, unknown>;
  const type = record["type"];
  if (typeof type !== "string") return { error: "frame without a type", detail: value };
  if (!Object.hasOwn(REQUIRED, type)) return { error: `unknown frame type: ${type}`, detail: value };
  const required = REQUIRED[type as ServerFrame["type"]];
  for (const [field, check] of Object.entries(required)) {
    if (!check(record[field])) return { error: `${type} frame with a bad or missing ${field}`, detail: value };
  }
  return { frame: value as ServerFrame };
}
