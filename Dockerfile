# One image for every Heidrun service; docker-compose.yml picks the part with the command.
# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/ingress/package.json apps/ingress/
COPY apps/worker/package.json apps/worker/
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/cli/package.json apps/cli/
COPY packages/core/package.json packages/core/
COPY packages/config/package.json packages/config/
COPY packages/db/package.json packages/db/
COPY packages/observability/package.json packages/observability/
COPY packages/proto/package.json packages/proto/
COPY packages/queue/package.json packages/queue/
COPY packages/testing/package.json packages/testing/
COPY packages/tokenizers/package.json packages/tokenizers/
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm install --no-save --no-audit --no-fund tsx@4

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production TURBO_TELEMETRY_DISABLED=1
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY apps ./apps
COPY packages ./packages
COPY drizzle ./drizzle
COPY config ./config
RUN rm -rf packages/testing && find . -path ./node_modules -prune -o -name '*.test.ts' -print -delete
USER node
EXPOSE 50051 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "require('net').connect(process.env.HEALTH_PORT||50051,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"
ENTRYPOINT ["node", "--import", "tsx", "apps/cli/src/main.ts"]
CMD ["start"]
