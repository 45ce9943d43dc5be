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
ENV NODE_ENV=production \
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
# SIGTERM lets running tasks finish (10 s grace) before the worker exits.
STOPSIGNAL SIGTERM
CMD ["node", "dist/worker/main.js"]
