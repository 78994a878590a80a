# Model Hub recipes. Tools come from .venv (see README); `just --list` shows this file's comments.

set shell := ["bash", "-euo", "pipefail", "-c"]

export PATH := justfile_directory() / ".venv/bin" + ":" + env_var("PATH")

# List the recipes
default:
    @just --list

# Validate the catalog, regenerate generated/ and build the dashboard into ui/dist — what a release pipeline runs
build:
    python -m codegen build
    just ui-build

# Validate a catalog file without writing anything
validate file="supported_models.json":
    python -m codegen validate {{ file }}

# Check every catalog entry against the Hub (HF_ENDPOINT, HF_TOKEN): repo, revision, file, size, sha256, gating; not part of check
verify-online file="supported_models.json" *args:
    python -m codegen verify --online {{ file }} {{ args }}

# Fail with a diff if generated/ is stale; lint and type-check
check:
    python -m codegen check
    ruff check codegen runtime tests bench
    ruff format --check codegen runtime tests bench
    mypy
    just typecheck-ts
    npm --prefix ui run --silent lint

# Type-check generated/typescript and the dashboard under tsc --strict
typecheck-ts: ui-deps
    npm --prefix ui run --silent typecheck

# Every test suite: the dashboard's unit tests (Vitest), then Python (pytest, which includes the browser tests)
test: ui-build
    npm --prefix ui run --silent test
    pytest

# Run the server on embedded defaults (SQLite file under ./data); missing tokens are generated and printed
serve *args:
    modelhub serve --dev {{ args }}

# Server + fake Hub + 3 simulated nodes on loopback; prints the dashboard URL and the tokens
demo *args: ui-build
    python -m runtime.demo {{ args }}

# Replicas (default 3) on the local PostgreSQL and Redis behind HAProxy, fake Hub, simulated nodes; prints URLs and tokens
cluster *args: ui-build
    python -m runtime.cluster {{ args }}

# Rolling restart of 3 replicas behind HAProxy under wrk, against the same run without restarts (needs wrk, haproxy)
bench-rolling *args:
    python bench/rolling_restart.py {{ args }}

# Replicas on one PostgreSQL + Redis: cross-replica visibility, heartbeats vs SQLite, leader failover
bench-replicas *args:
    python bench/replicas.py {{ args }}

# Rewrite the syrupy snapshots after an intended template change (commit them with the template)
snapshot-update:
    pytest tests/codegen --snapshot-update

# Catalog toolchain benchmark: validate, build and import at 1,000 and 10,000 entries
bench-catalog:
    python bench/catalog_build.py

# verify --online against the fake Hub: the real catalog, 1,000 synthetic entries, and with 200 ms of Hub latency
bench-verify *args:
    python bench/catalog_verify.py {{ args }}

# Runtime HTTP benchmark: the hub against a bare route, and heartbeat ingestion (needs wrk)
bench-runtime:
    python bench/runtime_http.py

# Hugging Face stats: cached lookup cost; hub p99 with a healthy and a hanging fake Hub (needs wrk)
bench-hf:
    python bench/hf_cache.py

# Server CPU with 1,000 simulated nodes heartbeating every 2 s
bench-simulator:
    python bench/simulator_scale.py

# WebSocket fan-out: 1,000 subscribed clients, heartbeat-to-frame latency and deliveries/s, against 10 s polling
bench-events:
    python bench/ws_fanout.py

# WebSocket abuse: /healthz and another client's events under a topic flood; first event after a Redis restart
bench-abuse:
    python bench/ws_abuse.py

# Compression: the gzipped hub against the identity hub; the dashboard's first load on the wire (needs wrk)
bench-compression: ui-build
    python bench/compression.py

# Dashboard: heartbeat-to-progress-bar latency in Chromium, first-load bytes and time to interactive
bench-ui: ui-build
    python bench/ui_latency.py

# Build the dashboard into ui/dist (served by the runtime at /)
ui-build: ui-deps
    npm --prefix ui run --silent build

# Install the dashboard's Node packages when package-lock.json is newer than node_modules
ui-deps:
    if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then npm ci --prefix ui --no-audit --no-fund; fi
