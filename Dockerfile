# One container: the Bun server with its dependencies, migrations and views.
FROM oven/bun:1.4.5 AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production

FROM oven/bun:1.4.5
WORKDIR /app
ENV NODE_ENV=production PORT=8787 PARLEY_DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY views ./views
COPY bots ./bots
COPY migrations ./migrations
EXPOSE 8787
STOPSIGNAL SIGTERM
CMD ["bun", "src/main.ts"]
