// Process entry: config -> database -> migrate -> app.listen -> graceful stop. Everything it
// wires is built by `startParley`, which tests use to run real servers on real ports.
import { existsSync, rmSync } from 'node:fs'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { createSlackBot } from '../bots/slack/bot.ts'
import { createTelegram, type Telegram, type TelegramOptions } from '../bots/telegram/runner.ts'
import type { McpOptions } from './agents/mcp.ts'
import { createApp } from './app.ts'
import { KeyVerifier } from './auth/api-keys.ts'
import { type Config, ConfigError, loadConfig } from './config.ts'
import type { Core } from './core/context.ts'
import { DISCONNECT_AFTER_MS, Presence } from './core/presence.ts'
import { countUsers } from './core/users.ts'
import { connectPostgres, type Database, openPglite, pgliteSocketPath } from './db/client.ts'
import { migrate } from './db/migrate.ts'
import { type EventBus, MemoryBus } from './events/bus.ts'
import { PostgresBus } from './events/postgres.ts'
import type { ChannelAdapter } from './notify/channel.ts'
import { Outbox, type OutboxOptions } from './notify/outbox.ts'
import { WebhookAdapter } from './notify/webhook.ts'

export type Parley = {
  url: string
  port: number
  database: Database
  core: Core
  outbox: Outbox
  telegram: Telegram | null
  /** Graceful stop: refuse new work, answer waiting requests (retryable), close the database. */
  stop(): Promise<void>
}

export type StartOptions = {
  /** Use this database instead of opening the configured one (tests share one). */
  database?: Database
  mcp?: McpOptions
  disconnectAfterMs?: number
  quiet?: boolean
  /** Extra channel adapters for the outbox, and outbox tuning (tests use short intervals). */
  adapters?: ChannelAdapter[]
  outbox?: Partial<OutboxOptions>
  telegram?: TelegramOptions
}

export async function startParley(config: Config, opts: StartOptions = {}): Promise<Parley> {
  const log = opts.quiet ? () => {} : (msg: string) => console.log(msg)
  const database =
    opts.database ??
    (config.databaseUrl ? connectPostgres(config.databaseUrl) : await openPglite(config.dataDir))
  const applied = await migrate(database)
  if (applied.length > 0) log(`migrations applied: ${applied.join(', ')}`)
  const bus: EventBus = database.sql ? await PostgresBus.start(database.sql) : new MemoryBus()
  const core: Core = { db: database.db, bus }
  const keys = new KeyVerifier(database.db, bus)
  const presence = new Presence(core, opts.disconnectAfterMs ?? DISCONNECT_AFTER_MS)
  await presence.start()
  const stopping = new AbortController()
  let baseUrl = config.publicUrl ?? `http://localhost:${config.port}`
  const slack = createSlackBot({ config, core, baseUrl: () => baseUrl })
  const telegram = await createTelegram({ config, core, database, baseUrl: () => baseUrl }, opts.telegram)
  const app = createApp({
    config,
    database,
    core,
    keys,
    stopping: stopping.signal,
    mcp: opts.mcp,
    slack,
    telegram,
  })
  app.listen({ port: config.port, hostname: '0.0.0.0', idleTimeout: 30 })
  const server = app.server!
  const port = server.port!

  // PGlite lets one process open its files: serve it to local CLI commands over a Unix socket.
  let socketServer: PGLiteSocketServer | null = null
  if (database.pglite && !opts.database) {
    const path = pgliteSocketPath(config.dataDir)
    if (existsSync(path)) rmSync(path)
    socketServer = new PGLiteSocketServer({ db: database.pglite, path, maxConnections: 8 })
    await socketServer.start()
  }

  const url = config.publicUrl ?? `http://localhost:${port}`
  baseUrl = url
  const adapters: ChannelAdapter[] = [new WebhookAdapter(config.webhookAllow), ...(opts.adapters ?? [])]
  if (slack) adapters.push(slack.adapter)
  if (telegram) adapters.push(telegram.adapter)
  const outbox = new Outbox(core, adapters, { baseUrl: url, ...opts.outbox })
  await outbox.start()
  await telegram?.start()
  await slack?.start()
  if (telegram) log(`Telegram bot @${telegram.bot.botInfo.username} (${telegram.mode})`)
  if (slack) log(`Slack bot (${slack.receiver ? `events at ${url}/slack/events` : 'Socket Mode'})`)

  let stopped: Promise<void> | null = null
  const stop = () => {
    stopped ??= (async () => {
      stopping.abort()
      // Stop listening; in-flight requests (woken by `stopping`) finish with retryable answers.
      // Idle keep-alive connections would hold stop(false) open, so wait for requests instead.
      void server.stop(false)
      const deadline = Date.now() + 10_000
      while (server.pendingRequests > 0 && Date.now() < deadline) await Bun.sleep(20)
      await server.stop(true)
      await telegram?.stop()
      await slack?.stop()
      await outbox.stop()
      presence.stop()
      await keys.close()
      await bus.close()
      await socketServer?.stop().catch(() => {})
      if (!opts.database) await database.close()
    })()
    return stopped
  }
  log(
    `Parley listening on ${url} (database: ${database.kind === 'pglite' ? `PGlite in ${config.dataDir}` : 'Postgres'})`,
  )
  return { url, port, database, core, outbox, telegram, stop }
}

/** `bun start` / `parley serve`: run until SIGTERM or SIGINT, then stop gracefully. */
export async function serve(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`parley: invalid configuration: ${err.message}`)
      process.exit(1)
    }
    throw err
  }
  const parley = await startParley(config)
  console.log(`Dashboard: ${parley.url}/`)
  if ((await countUsers(parley.database.db)) === 0) {
    console.log(
      'No users yet. Create one, then a key for your agents:\n' +
        '  bun src/cli.ts users create --email you@example.com --password "a long password"\n' +
        '  bun src/cli.ts keys create --email you@example.com --name laptop',
    )
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, async () => {
      console.log(`${signal}: stopping`)
      await parley.stop()
      process.exit(0)
    })
  }
}

if (import.meta.main) await serve()
