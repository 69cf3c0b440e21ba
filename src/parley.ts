// The one wiring of Parley: createParley(config) builds the whole thing (database, bus, core, key
// verifier, presence, outbox, chat bots, HTTP app) without starting anything; `start` runs the
// background work (presence, outbox, bots); `listen` serves HTTP, then starts; `stop` undoes it
// all. `parley serve`, the tests and the bench all build Parley here, so tests run what
// production runs.
import { existsSync, rmSync } from 'node:fs'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import type { SlackBot } from '../bots/slack/bot.ts'
import type { Telegram, TelegramOptions } from '../bots/telegram/runner.ts'
import type { McpOptions } from './agents/mcp.ts'
import { type App, type AppDeps, createApp } from './app.ts'
import { HOLD_CHECK_MS, KeyVerifier } from './auth/api-keys.ts'
import type { Config } from './config.ts'
import type { Core } from './core/context.ts'
import { Housekeeping, type HousekeepingOptions } from './core/housekeeping.ts'
import { DISCONNECT_AFTER_MS, Presence } from './core/presence.ts'
import { releaseMachine } from './core/relay-sessions.ts'
import { connectPostgres, type Database, openPglite, pgliteSocketPath } from './db/client.ts'
import { migrate } from './db/migrate.ts'
import { type EventBus, MemoryBus } from './events/bus.ts'
import { PostgresBus } from './events/postgres.ts'
import { log, logError } from './log.ts'
import type { ChannelAdapter } from './notify/channel.ts'
import { Outbox, type OutboxOptions } from './notify/outbox.ts'
import { createPush, type Push } from './notify/push/index.ts'
import { describeChatChannels } from './notify/registry.ts'
import { WebhookAdapter } from './notify/webhook.ts'

export type ParleyOptions = {
  /** Use this database instead of opening the configured one (tests share one); left open on stop. */
  database?: Database
  mcp?: McpOptions
  disconnectAfterMs?: number
  /** Bun closes a connection silent this long (default 30 s); long waits lift it per request. */
  idleTimeoutSeconds?: number
  quiet?: boolean
  /** Extra channel adapters for the outbox, and outbox tuning (tests use short intervals). */
  adapters?: ChannelAdapter[]
  outbox?: Partial<OutboxOptions>
  telegram?: TelegramOptions
  housekeeping?: HousekeepingOptions
  /** The Telegram bot's username for t.me links on the settings page (default: the bot's own). */
  telegramBotUsername?: string
  /** Replaces parts of the HTTP app's dependencies, e.g. a bot built against a fake service. */
  extend?: (core: Core) => Partial<AppDeps>
}

export type Parley = {
  config: Config
  database: Database
  bus: EventBus
  core: Core
  keys: KeyVerifier
  presence: Presence
  outbox: Outbox
  housekeeping: Housekeeping
  slack: SlackBot | null
  telegram: Telegram | null
  /** Web push: its public key, answer links and outbox adapter. */
  push: Push
  /** The HTTP app; `app.handle(request)` serves a request without a listening server. */
  app: App
  /** Aborted when stop() begins: waiting requests answer (retryably) and finish. */
  stopping: AbortSignal
  /** Base of links to Parley: PUBLIC_URL, else this machine's address (its real port once listening). */
  url: string
  /** The listening port (0 until `listen`). */
  port: number
  /** Starts presence, the outbox and the chat bots (without an HTTP server: tests use app.handle). */
  start(): Promise<Parley>
  /** Serves HTTP on config.port (0: any free port), then starts. */
  listen(): Promise<Parley>
  /** Graceful stop: refuse new work, answer waiting requests (retryable), close what was opened. */
  stop(): Promise<void>
}

export async function createParley(config: Config, opts: ParleyOptions = {}): Promise<Parley> {
  const say = opts.quiet ? () => {} : (msg: string) => log.info(msg)
  describeChatChannels()
  const database =
    opts.database ??
    (config.databaseUrl ? connectPostgres(config.databaseUrl) : await openPglite(config.dataDir))
  const applied = await migrate(database)
  if (applied.length > 0) say(`migrations applied: ${applied.join(', ')}`)
  const bus: EventBus = database.sql ? await PostgresBus.start(database.sql) : new MemoryBus()
  const core: Core = { db: database.db, answerDb: database.answerDb, bus }
  // An in-memory bus cannot hear a revocation made by the CLI: there, held keys are rechecked.
  const keys = new KeyVerifier(database.db, bus, Date.now, database.sql ? null : HOLD_CHECK_MS)
  const presence = new Presence(core, opts.disconnectAfterMs ?? DISCONNECT_AFTER_MS)
  core.presence = presence
  const stopping = new AbortController()
  const baseUrl = () => parley.url
  // Bolt and grammY are loaded only when their bot is configured: with the MCP SDK, that kept
  // 10 MiB off an idle server (bench/binary.ts).
  const slack = config.slack.botToken
    ? (await import('../bots/slack/bot.ts')).createSlackBot({ config, core, baseUrl })
    : null
  const telegram = config.telegram.botToken
    ? await (await import('../bots/telegram/runner.ts')).createTelegram(
        { config, core, database, baseUrl },
        opts.telegram,
      )
    : null
  const push = await createPush({ config, db: database.db, baseUrl })
  const app = createApp({
    config,
    database,
    core,
    keys,
    stopping: stopping.signal,
    mcp: opts.mcp,
    slack,
    telegram,
    telegramBotUsername: opts.telegramBotUsername,
    push,
    ...opts.extend?.(core),
  })
  const adapters: ChannelAdapter[] = [
    new WebhookAdapter(config.webhookAllow),
    push.adapter,
    ...(opts.adapters ?? []),
  ]
  if (slack) adapters.push(slack.adapter)
  if (telegram) adapters.push(telegram.adapter)
  // The outbox reads its base URL per job: it is known for sure only once the server listens.
  const outbox = new Outbox(core, adapters, {
    ...(opts.quiet ? { log: () => {} } : {}),
    ...opts.outbox,
    get baseUrl() {
      return parley.url
    },
  })

  const housekeeping = new Housekeeping(core, {
    ...(opts.quiet ? { log: () => {} } : {}),
    ...opts.housekeeping,
  })

  let server: ReturnType<typeof Bun.serve> | null = null
  let socketServer: PGLiteSocketServer | null = null

  let started: Promise<Parley> | null = null
  let warming: Promise<void> = Promise.resolve()
  const start = () => {
    started ??= (async () => {
      // Relay agent sockets this machine held before it stopped are gone.
      if (config.machineId) await releaseMachine(core, config.machineId)
      await presence.start()
      await outbox.start()
      // In the background: start does not wait for it, stop does.
      warming = push.adapter.warm().catch((err) => logError('push')('getting ready failed', err))
      await housekeeping.start()
      await telegram?.start()
      await slack?.start()
      if (telegram) say(`Telegram bot @${telegram.bot.botInfo.username} (${telegram.mode})`)
      if (slack) say(`Slack bot (${slack.receiver ? `events at ${parley.url}/slack/events` : 'Socket Mode'})`)
      return parley
    })()
    return started
  }

  const listen = async (): Promise<Parley> => {
    if (server) return start()
    app.listen({ port: config.port, hostname: '0.0.0.0', idleTimeout: opts.idleTimeoutSeconds ?? 30 })
    server = app.server as ReturnType<typeof Bun.serve>
    parley.port = server.port ?? config.port
    parley.url = config.publicUrl ?? `http://localhost:${parley.port}`
    // PGlite lets one process open its files: serve it to local CLI commands over a Unix socket.
    if (database.pglite && !opts.database) {
      const path = pgliteSocketPath(config.dataDir)
      if (existsSync(path)) rmSync(path)
      socketServer = new PGLiteSocketServer({ db: database.pglite, path, maxConnections: 8 })
      await socketServer.start()
    }
    const where = database.kind === 'pglite' ? `PGlite in ${config.dataDir}` : 'Postgres'
    say(`Parley listening on ${parley.url} (database: ${where})`)
    return start()
  }

  let stopped: Promise<void> | null = null
  const stop = () => {
    stopped ??= (async () => {
      stopping.abort()
      if (server) {
        // Stop listening; in-flight requests (woken by `stopping`) finish with retryable answers.
        // Idle keep-alive connections would hold stop(false) open, so wait for requests instead.
        void server.stop(false)
        const deadline = Date.now() + 10_000
        while (server.pendingRequests > 0 && Date.now() < deadline) await Bun.sleep(20)
        await server.stop(true)
      }
      if (started) {
        await started.catch(() => {})
        await telegram?.stop()
        await slack?.stop()
      }
      await housekeeping.stop()
      await outbox.stop()
      await warming
      presence.stop()
      await keys.close()
      await bus.close()
      await socketServer?.stop().catch(() => {})
      if (!opts.database) await database.close()
    })()
    return stopped
  }

  const parley: Parley = {
    config,
    database,
    bus,
    core,
    keys,
    presence,
    outbox,
    housekeeping,
    slack,
    telegram,
    push,
    app,
    stopping: stopping.signal,
    url: config.publicUrl ?? `http://localhost:${config.port}`,
    port: 0,
    start,
    listen,
    stop,
  }
  return parley
}

/** Builds Parley and serves it: what `parley serve` runs, and tests that need a real server. */
export async function startParley(config: Config, opts: ParleyOptions = {}): Promise<Parley> {
  return (await createParley(config, opts)).listen()
}
