# syntax=docker/dockerfile:1
# Sluice: Node 20 on Debian bookworm (glibc 2.36: the uWebSockets.js build we pin ships binaries for it).

# ---- build: install everything, compile TypeScript, then drop dev dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (tsc) needs the sources, which are copied below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# ---- run: compiled JS and production node_modules only, as a non-root user ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    SLUICE_PROXY_LISTEN=0.0.0.0
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node examples ./examples
# The admin API stays on 127.0.0.1 inside the container unless SLUICE_ADMIN_LISTEN=0.0.0.0 is set.
USER node
# 8000 proxy, 8443 proxy TLS (when ssl_cert/ssl_key are set), 8001 admin.
EXPOSE 8000 8443 8001
# /status answers 200 from the primary when it can reach its workers; node's fetch avoids needing curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8001/status').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
# Without --config the embedded demo runs; mount your own: -v $PWD/sluice.yaml:/etc/sluice.yaml
CMD ["start"]
