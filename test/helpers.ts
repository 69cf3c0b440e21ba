// Test fixtures: a fresh database per test file (PGlite always; Postgres too when DATABASE_URL is
// set), Parley wired as production wires it, users with keys, and request builders.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { McpOptions } from '../src/agents/mcp.ts'
import type { App, AppDeps } from '../src/app.ts'
import { createApiKey, type KeyVerifier } from '../src/auth/api-keys.ts'
import { hashPassword } from '../src/auth/passwords.ts'
import { loadConfig } from '../src/config.ts'
import type { Core } from '../src/core/context.ts'
import { createUser } from '../src/core/users.ts'
import {
  connectPostgres,
  type Database,
  isAlive,
  openPglite,
  pgliteOptions,
  wrapPglite,
} from '../src/db/client.ts'
import { migrate, pendingMigrations } from '../src/db/migrate.ts'
import type { EventBus } from '../src/events/bus.ts'
import { createParley, type Parley } from '../src/parley.ts'

export type DbKind = 'pglite' | 'postgres'

/** The databases this run covers: PGlite always, Postgres when DATABASE_URL is set. */
export const dbKinds = (): DbKind[] => (process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'])

/** Postgres-only tests: `describe.skipIf(!hasPostgres())` shows them as skipped, not as absent. */
export const hasPostgres = (): boolean => dbKinds().includes('postgres')

/** Names the migration set: a template made for one set is never used for another. */
const migrationsHash = () =>
  Bun.hash(
    pendingMigrations()
      .map((m) => m.tag + m.statements.join(''))
      .join('|'),
  ).toString(16)

/**
 * `make`'s result, made on first use and kept for the files a test worker runs after it (each
 * worker runs many, --no-isolate); made again after a failure, which must not fail them all.
 */
function kept<T>(make: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | null = null
  return () => {
    if (promise) return promise
    const made = make()
    promise = made
    made.catch(() => {
      if (promise === made) promise = null
    })
    return made
  }
}

/**
 * A migrated PGlite data dir, made once per migration set and loaded from a tarball after that;
 * read once per worker (41 MB: reading it cost each file about 0.2 s of CPU).
 */
export const pgliteTemplate = kept(async (): Promise<Blob> => {
  const file = join(tmpdir(), `parley-pglite-${migrationsHash()}.tar`)
  if (existsSync(file)) return new Blob([readFileSync(file)])
  const fresh = await openPglite(null)
  await migrate(fresh)
  const blob = await fresh.pglite!.dumpDataDir('none')
  await fresh.close()
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()))
  renameSync(tmp, file)
  return blob
})

const databaseUrl = (base: string, name: string) => {
  const url = new URL(base)
  url.pathname = `/${name}`
  return url.toString()
}
const randomName = (prefix: string) => `${prefix}_${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`

/** Runs `fn` on a one-connection client to the server's maintenance database (DATABASE_URL). */
async function asAdmin<T>(fn: (admin: Database) => Promise<T>): Promise<T> {
  const admin = connectPostgres(process.env.DATABASE_URL!, { max: 1 })
  try {
    return await fn(admin)
  } finally {
    await admin.close()
  }
}

/**
 * A migrated Postgres database to copy (`create database … template`, a file copy: far cheaper
 * than running the migrations again in every test file), made once per migration set on the
 * server. It is built under a name of its own and renamed when complete, so a test file never
 * copies a half-migrated one, and files starting together may each build one: the first rename
 * wins and the others drop theirs.
 */
const postgresTemplate = kept(() =>
  asAdmin(async (admin) => {
    const name = `parley_tpl_${migrationsHash()}`
    const found = await admin.query('select 1 from pg_database where datname = $1', [name])
    if (found.length > 0) return name
    const building = randomName(name)
    await admin.query(`create database ${building}`)
    const database = connectPostgres(databaseUrl(process.env.DATABASE_URL!, building), { max: 1 })
    try {
      await migrate(database)
    } finally {
      await database.close()
    }
    try {
      await admin.query(`alter database ${building} rename to ${name}`)
    } catch (err) {
      await admin.query(`drop database if exists ${building} with (force)`)
      const won = await admin.query('select 1 from pg_database where datname = $1', [name])
      if (won.length === 0) throw err
    }
    return name
  }),
)

export type TestDb = { database: Database; url: string | null; drop(): Promise<void> }

/**
 * PGlite instances a test file dropped, emptied and kept for the next file of this worker (each
 * worker runs many, --no-isolate): emptying one costs about a tenth of the half second of CPU a
 * new one from the template does. One is kept: each holds 70-250 MB, and a file rarely has two
 * open at once.
 */
const IDLE_PGLITE = 1
const idlePglite: PGlite[] = []

/** The tables a migrated database starts empty: every table but the migrations' own record. */
const EMPTIED_TABLES = `select string_agg(format('%I', tablename), ', ') as list from pg_tables
  where schemaname = 'public' and tablename <> 'parley_migrations'`

/**
 * Back to the template's state (a migrated database with no rows), or false when it cannot be
 * in time (a transaction a test left open holds it): then it is not kept.
 */
async function emptied(pg: PGlite): Promise<boolean> {
  const reset = (async () => {
    const [tables] = (await pg.query<{ list: string }>(EMPTIED_TABLES)).rows
    await pg.exec(`truncate ${tables!.list} restart identity cascade`)
    await pg.exec(`discard all`)
    await pg.exec(`set time zone 'UTC'`)
    return true
  })()
  return Promise.race([reset, Bun.sleep(5000).then(() => false)]).catch(() => false)
}

/**
 * `pg` for one test file: once dropped, everything it still holds (a Parley left running, a
 * wrapper of its own) is refused, as by a closed database, so a kept instance is reachable only by
 * the file it is handed to next.
 */
function lease(pg: PGlite): { client: PGlite; revoke(): void } {
  let revoked = false
  const refused = () => Promise.reject(new Error('this test database was dropped'))
  const client = new Proxy(pg, {
    get(target, prop) {
      if (revoked && prop === 'closed') return true
      const value = Reflect.get(target, prop, target)
      if (typeof value !== 'function') return value
      if (!revoked) return value.bind(target)
      return prop === 'close' ? async () => {} : refused
    },
  })
  return { client, revoke: () => (revoked = true) }
}

async function pgliteDatabase(): Promise<TestDb> {
  let pg = idlePglite.pop()
  if (!pg) {
    // Started as Parley starts it (src/db/client.ts): its small shared memory is also less to
    // touch on every start than PGlite's default 128 MB.
    pg = new PGlite({ ...(await pgliteOptions(null)), loadDataDir: await pgliteTemplate() })
    await pg.waitReady
    await pg.exec(`set time zone 'UTC'`)
  }
  const own = pg
  const { client, revoke } = lease(own)
  const database = wrapPglite(client)
  let dropped = false
  return {
    database,
    url: null,
    drop: async () => {
      if (dropped) return
      dropped = true
      revoke()
      if (own.closed) return
      if (idlePglite.length < IDLE_PGLITE && (await emptied(own))) idlePglite.push(own)
      // Not awaited: a transaction left open would hold the close too.
      else void own.close().catch(() => {})
    },
  }
}

/**
 * Postgres databases made from the template that a file dropped, emptied and kept for the next
 * file of this worker, as with PGlite above: emptying one takes about 70 ms, where `create
 * database` and `drop database` took about 400 ms of the server's time. Their names carry this
 * machine and worker process, so a later run drops those whose worker has gone.
 */
const IDLE_POSTGRES = 2
const idlePostgres: string[] = []
const HOST = Bun.hash(hostname()).toString(36).slice(0, 6)
const KEPT_NAME = new RegExp(`^parley_t_${HOST}_(\\d+)_`)

/** Drops kept databases of this machine's workers that have exited (once per worker). */
const forgetGoneWorkers = kept(() =>
  asAdmin(async (admin) => {
    const rows = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like 'parley\\_t\\_${HOST}\\_%'`,
    )
    for (const { datname } of rows) {
      const pid = Number(KEPT_NAME.exec(datname)?.[1])
      if (pid && !isAlive(pid))
        await admin.query(`drop database if exists "${datname}" with (force)`).catch(() => {})
    }
  }),
)

/**
 * Empties a kept database and renames it: a connection of the file that had it (a child
 * process's, or a pool left open, which reconnects by itself) finds no database by its old name.
 */
async function emptyPostgres(name: string): Promise<string> {
  const cutOff = (admin: Database) =>
    admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [name],
    )
  // Renamed first: a pool left open reconnects by itself, and must find no database to write to.
  const renamed = randomName(`parley_t_${HOST}_${process.pid}`)
  await asAdmin(async (admin) => {
    await cutOff(admin)
    await admin.query(`alter database ${name} rename to ${renamed}`)
  })
  const db = connectPostgres(databaseUrl(process.env.DATABASE_URL!, renamed), { max: 1 })
  try {
    const [tables] = await db.query<{ list: string }>(EMPTIED_TABLES)
    await db.query(`truncate ${tables!.list} restart identity cascade`)
  } finally {
    await db.close()
  }
  return renamed
}

async function postgresDatabase(migrated: boolean): Promise<TestDb> {
  let name = migrated ? idlePostgres.pop() : undefined
  if (!name) {
    if (migrated) await forgetGoneWorkers()
    name = randomName(migrated ? `parley_t_${HOST}_${process.pid}` : 'parley_t')
    const template = migrated ? await postgresTemplate() : 'template1'
    await asAdmin((admin) => admin.query(`create database ${name} template ${template}`))
  }
  const own = name
  const url = databaseUrl(process.env.DATABASE_URL!, own)
  const database = connectPostgres(url)
  let dropped = false
  return {
    database,
    url,
    drop: async () => {
      if (dropped) return
      dropped = true
      await database.close()
      if (migrated && idlePostgres.length < IDLE_POSTGRES) {
        try {
          idlePostgres.push(await emptyPostgres(own))
          return
        } catch {}
      }
      await asAdmin((admin) => admin.query(`drop database if exists ${own} with (force)`))
    },
  }
}

/** A database of its own; `migrate: false` leaves it empty (Postgres only), for processes that migrate it. */
export async function freshDatabase(kind: DbKind, opts: { migrate?: boolean } = {}): Promise<TestDb> {
  if (kind === 'pglite') return pgliteDatabase()
  return postgresDatabase(opts.migrate !== false)
}

export type TestApp = {
  kind: DbKind
  database: Database
  core: Core
  bus: EventBus
  keys: KeyVerifier
  app: App
  /** Aborted when the app begins to stop. */
  stopping: AbortSignal
  /** The whole Parley behind `app`: presence and outbox run as in production. */
  parley: Parley
  close(): Promise<void>
}

/** Parley as production wires it (src/parley.ts), started but not listening: call `app.handle`. */
export async function testApp(
  kind: DbKind,
  opts: {
    mcp?: McpOptions
    db?: TestDb
    env?: Record<string, string>
    telegramBotUsername?: string
    extend?: (core: Core) => Partial<AppDeps>
  } = {},
): Promise<TestApp> {
  const testDb = opts.db ?? (await freshDatabase(kind))
  const parley = await createParley(loadConfig(opts.env ?? {}), {
    database: testDb.database,
    quiet: true,
    mcp: opts.mcp,
    telegramBotUsername: opts.telegramBotUsername,
    extend: opts.extend,
  })
  await parley.start()
  const { database, core, bus, keys, app, stopping } = parley
  return {
    kind,
    database,
    core,
    bus,
    keys,
    app,
    stopping,
    parley,
    close: async () => {
      await parley.stop()
      if (!opts.db) await testDb.drop()
    },
  }
}

let userSeq = 0
/**
 * A password's argon2id hash, made once per test process: each hash costs about 0.2 s of CPU, and
 * a run makes hundreds of users with the same password. Logging in still verifies it for real.
 */
const hashes = new Map<string, Promise<string>>()
const sharedHash = (password: string) => {
  if (!hashes.has(password)) hashes.set(password, hashPassword(password))
  return hashes.get(password)!
}

export async function makeUser(db: Database['db'], label = 'user') {
  const email = `${label}-${++userSeq}-${crypto.randomUUID().slice(0, 6)}@example.com`
  const user = await createUser(
    db,
    { email, password: 'correct horse battery', displayName: label },
    sharedHash,
  )
  const { key, id: keyId } = await createApiKey(db, { userId: user.id, name: `${label} key` })
  return { ...user, key, keyId }
}

/** A JSON request to the app, as an agent with `key` would send it. */
export async function call(
  app: { handle(r: Request): Promise<Response> },
  method: string,
  path: string,
  opts: { key?: string | null; body?: unknown; headers?: Record<string, string>; rawBody?: string } = {},
) {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.key) headers.authorization = `Bearer ${opts.key}`
  let body: string | undefined = opts.rawBody
  if (opts.body !== undefined) body = JSON.stringify(opts.body)
  if (body !== undefined) headers['content-type'] ??= 'application/json'
  const res = await app.handle(new Request(`http://parley.test${path}`, { method, headers, body }))
  const text = await res.text()
  // biome-ignore lint/suspicious/noExplicitAny: responses are asserted field by field
  let json: any = null
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: res.status, json, text, headers: res.headers }
}

export const uuid = () => crypto.randomUUID()

/** The headers of a websocket handshake: a plain request to a socket route is not routed to it. */
export const WEBSOCKET_HANDSHAKE: Readonly<Record<string, string>> = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
}

/**
 * Waits until `check` holds (polled every 10 ms), or fails after `ms`. The bound only turns a hang
 * into a clear failure, so it is stretched (up to 20 s) for a loaded machine: on 2 cores running
 * test files side by side, a step that takes 50 ms alone can take seconds.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + Math.max(ms, Math.min(ms * 3, 20_000))
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`)
    await Bun.sleep(10)
  }
}
