# Parley in one container: the executable `bun run build` compiles (server, CLI, views, migrations,
# browser assets and PGlite, all embedded; see scripts/build.ts) on a minimal base image, as a
# non-root user. The build stage installs and compiles with the official Bun image; the runtime
# stage holds nothing but the executable and an empty data folder.
#
# No Docker engine runs in this project's checks: test/deploy/binary.test.ts builds the same
# executable, copies it to a folder of its own and drives it with only PORT and DATABASE_URL
# (migrations, REST, every asset of the login page, the CLI, a restart, `parley healthcheck`).
# That test is what proves this image's content.

FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production
COPY tsconfig.json ./
COPY src ./src
COPY views ./views
COPY bots ./bots
COPY migrations ./migrations
COPY scripts ./scripts
# The build runs the executable it compiled once as a server on a throwaway embedded database, then
# compiles again with the bytecode that run used laid out first (less memory when idle).
RUN bun scripts/build.ts /out/parley && mkdir -p /out/data

# glibc and CA certificates, no shell, user nonroot (65532): all the executable needs (ldd: libc only).
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/parley /app/parley
# PGlite's files when DATABASE_URL is unset (mount a volume here); unused on Postgres.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
ENV PORT=8787 PARLEY_DATA_DIR=/data
USER 65532:65532
EXPOSE 8787
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["/app/parley", "healthcheck"]
CMD ["/app/parley", "serve"]
