# The EKM runbooks worker (and the ekm CLI), for docker-compose.yml or any container platform.
# Workflows are bundled at build time (bundleWorkflowCode), so the running worker never needs
# webpack, and the image runs as an unprivileged user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
RUN npx tsc -p tsconfig.json \
 && node dist/worker/bundle.js /app/workflow-bundle.js \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
# jemalloc instead of glibc's malloc: with glibc the worker's native memory (the Temporal core's
# threads) stays fragmented after a burst of work; with 1,000 runs waiting the worker held about
# 400-460 MB with glibc and 230-280 MB with jemalloc (npm run bench:waiting, README Benchmarks).
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(find /usr/lib -name libjemalloc.so.2 | head -n 1)" /usr/local/lib/libjemalloc.so.2
ENV NODE_ENV=production \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    EKM_WORKFLOW_BUNDLE=/app/workflow-bundle.js \
    EKM_CLUSTERS_FILE=/etc/ekm/clusters.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/workflow-bundle.js ./workflow-bundle.js
COPY package.json ./
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/ekm && chmod +x /app/dist/src/cli/main.js \
 && mkdir -p /var/log/ekm && chown node:node /var/log/ekm
USER node
# SIGTERM lets running tasks finish (1 s grace, then they are handed back to another worker).
STOPSIGNAL SIGTERM
CMD ["node", "dist/worker/main.js"]
