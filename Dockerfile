# Carrel PDS container image.
#   docker build -t carrel .
#   docker run -p 2583:2583 -v carrel-data:/pds -e PDS_HOSTNAME=pds.example.com carrel
# Node 22 is the image's own Node, so scripts/runtime.mjs (the Node 20 shim) does nothing here.

# ---- build: install dependencies from the lockfile, then drop the dev ones ----
FROM node:22-bookworm-slim AS build
WORKDIR /app
ENV CI=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
# better-sqlite3 ships prebuilt binaries, but npm still runs its implicit `node-gyp rebuild`
# (a no-op build when the prebuild loads), which needs python3, make and the Node headers
# that the image has under /usr/local/include/node. g++ is there for the fallback build.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
# scripts/ is needed by `npm ci` itself: postinstall runs `node scripts/runtime.mjs ensure`,
# which does nothing under this image's Node 22
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY lexicons ./lexicons
# compile to dist/ (scripts/build.mjs: one bundled file starts several times faster than the
# sources through a TypeScript loader), then drop the dev dependencies (esbuild, TypeScript, tsx,
# test tools)
RUN npm run build && npm prune --omit=dev && npm cache clean --force

# ---- runtime: the same base, no build tools, runs as the unprivileged `node` user ----
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    PDS_PORT=2583 \
    PDS_DATA_DIRECTORY=/pds \
    PDS_BLOBSTORE_DISK_LOCATION=/pds/blobs
COPY --from=build --chown=root:root /app /app
# the operator's CLI on PATH: `docker exec <container> carrel account list` (dist/src/cli.js, 0755)
RUN ln -s /app/dist/src/cli.js /usr/local/bin/carrel
# the data volume is the node user's alone (the server creates what it makes there 0700/0600)
RUN install -d -m 0700 -o node -g node /pds /pds/blobs
USER node
VOLUME ["/pds"]
EXPOSE 2583
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PDS_PORT || 2583) + '/xrpc/_health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "--v8-pool-size=1", "dist/src/index.js"]
