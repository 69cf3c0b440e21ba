// Opens the database: a Postgres server through postgres.js when DATABASE_URL is set, otherwise
// embedded PGlite in the data dir. Both speak the same SQL and run the same migrations; the rest
// of the code sees one drizzle `Db` and never asks which one it got.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { PGlite, type PGliteOptions } from '@electric-sql/pglite'
import { type SQL, sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { projectFile } from '../project-files.ts'
import * as schema from './schema.ts'
import { StatementGate } from './statement-gate.ts'

export type Schema = typeof schema
export type Db = PgDatabase<PgQueryResultHKT, Schema>
/** A transaction handle: everything a `Db` can do except open a new top-level connection. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
export type DbOrTx = Db | Tx

/** Runs raw SQL text; used by the migrator and by code that needs driver features. */
export type RawQuery = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>

export type Database = {
  kind: 'pglite' | 'postgres'
  db: Db
  /**
   * The same database for the statements an answer waits on (answerPath in core/context.ts): on
   * Postgres they go ahead of the statements queued at the pool's gate (statement-gate.ts) when
   * it is busy. On PGlite, `db` itself.
   */
  answerDb: Db
  query: RawQuery
  /** postgres.js client (Postgres only): LISTEN/NOTIFY and reserved connections. */
  sql: postgres.Sql | null
  /** The embedded database (PGlite only), e.g. to serve it to the CLI over a socket. */
  pglite: PGlite | null
  /** Number of SQL statements issued through `db`, for /metrics and the idle benchmark. */
  queryCount(): number
  ping(): Promise<void>
  close(): Promise<void>
}

/** Socket file where a running server exposes its embedded PGlite to local CLI commands. */
export const pgliteSocketPath = (dataDir: string) => join(dataDir, '.s.PGSQL.5432')

function counter() {
  let n = 0
  return { logger: { logQuery: () => void n++ }, count: () => n }
}

/**
 * How drizzle reaches Postgres. Two things postgres.js does by default are changed here:
 * - drizzle asks it not to prepare its (unnamed) queries, and an unprepared query with parameters
 *   costs two round trips (describe, then run). Every statement is prepared instead (postgres.js
 *   keeps them per connection, keyed by text), which halves the round trips of the hot paths.
 * - under load postgres.js can send a transaction's BEGIN on a connection it then fails to
 *   reserve (when BEGIN fills that connection's pipeline; porsager/postgres#823, #1189), and
 *   unrelated queries run inside the open transaction. Transactions therefore get a pool of their
 *   own, where nothing is pipelined behind another caller's work; a burst of plain queries (a
 *   thousand long-polls waking at once) fills the other pool's pipelines, never this one's.
 * Transactions and savepoints hand drizzle a new client, so those are wrapped too. A pool's
 * plain statements also pass its gate (`gated`), which lets urgent ones ahead when it is busy.
 */
function drizzleClient<T extends postgres.Sql | postgres.TransactionSql>(
  client: T,
  transactions?: postgres.Sql,
  gated?: { gate: StatementGate; urgent: boolean },
): T {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (prop === 'unsafe') {
        const send = (query: string, params?: unknown[], options?: Record<string, unknown>) =>
          (value as postgres.Sql['unsafe']).call(target, query, params as never, {
            ...options,
            prepare: true,
          })
        return gated ? gatedSend(send, gated.gate, gated.urgent) : send
      }
      if (prop === 'begin' || prop === 'savepoint') {
        const owner = prop === 'begin' && transactions ? transactions : target
        const start = Reflect.get(owner, prop) as (...a: unknown[]) => unknown
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.TransactionSql) => unknown
          return start.call(owner, ...args, (tx: postgres.TransactionSql) => fn(drizzleClient(tx)))
        }
      }
      return value
    },
  })
}

/**
 * `unsafe` through the gate. A postgres.js query is sent when first awaited, so the gate's turn is
 * taken then too; drizzle asks for `.values()` (rows as arrays) before awaiting, and nothing else.
 */
function gatedSend(
  send: (
    query: string,
    params?: unknown[],
    options?: Record<string, unknown>,
  ) => postgres.PendingQuery<postgres.Row[]>,
  gate: StatementGate,
  urgent: boolean,
) {
  return (query: string, params?: unknown[], options?: Record<string, unknown>) => {
    let asArrays = false
    let sent: Promise<unknown> | undefined
    const run = () =>
      (sent ??= gate.run(urgent, () =>
        asArrays ? send(query, params, options).values() : send(query, params, options),
      ))
    return {
      values() {
        asArrays = true
        return this
      },
      // biome-ignore lint/suspicious/noThenProperty: drizzle awaits what `unsafe` returns, as it would a postgres.js query
      then: (ok?: (rows: unknown) => unknown, fail?: (err: unknown) => unknown) => run().then(ok, fail),
    }
  }
}

/**
 * Statements in flight per pooled connection before the gate holds ordinary ones back: enough
 * pipelining to keep the connections busy (a cap of 1 or 2 per connection cost a quarter of the
 * agent steps under bench/load.ts), short enough that an urgent statement sent past them is not
 * held up for long.
 */
export const STATEMENTS_PER_CONNECTION = 5

export function connectPostgres(url: string, opts: { max?: number; path?: string } = {}): Database {
  const options = {
    max: opts.max ?? 10,
    ...(opts.path ? { path: opts.path } : {}),
    onnotice: () => {},
    // A connection that cannot finish connecting (the server restarting, a half-dead socket) fails
    // in seconds, as a retryable 503, instead of holding its request for the default 30 s.
    connect_timeout: 5,
    connection: { TimeZone: 'UTC', application_name: 'parley' },
  }
  const sql = postgres(url, options)
  // Connects on first use: a client that never opens a transaction never opens this pool.
  const transactions = postgres(url, options)
  const c = counter()
  const gate = new StatementGate(options.max * STATEMENTS_PER_CONNECTION)
  const open = (urgent: boolean) =>
    drizzlePostgres(drizzleClient(sql, transactions, { gate, urgent }), {
      schema,
      logger: c.logger,
    }) as unknown as Db
  const db = open(false)
  const answerDb = open(true)
  // drizzle takes over (de)serialising dates and JSON by changing the client's type options; the
  // transaction pool must read and write values the same way.
  Object.assign(transactions.options.parsers, sql.options.parsers)
  Object.assign(transactions.options.serializers, sql.options.serializers)
  return {
    kind: 'postgres',
    db,
    answerDb,
    sql,
    pglite: null,
    query: async (text, params = []) =>
      (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as never,
    queryCount: c.count,
    ping: async () => {
      await sql`select 1`
    },
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), transactions.end({ timeout: 5 })])
    },
  }
}

/**
 * PGlite's own files, which it loads from beside its code. The compiled executable has no such
 * place: `bun run build` embeds these (paths from the project root, each zstd-compressed under
 * `<path>.zst`) and PGlite is handed them.
 */
export const PGLITE_FILES = {
  pgliteWasm: 'node_modules/@electric-sql/pglite/dist/pglite.wasm',
  initdbWasm: 'node_modules/@electric-sql/pglite/dist/initdb.wasm',
  fsBundle: 'node_modules/@electric-sql/pglite/dist/pglite.data',
} as const

/**
 * Postgres settings for the embedded database, sized for one process on a small machine. Its
 * shared memory lives in the wasm heap, all of it touched at start: the default 128 MB of shared
 * buffers made a third of Parley's idle memory. Pages not held there are read from the data dir
 * through the OS page cache: 4 MB instead of 8 left 3.9 MiB less resident (three pairs of starts)
 * and no measurable change in lookups over a hot set of 20,000 rows or in table scans. One backend
 * serves every connection (the CLI's socket included), and each connection slot reserves shared
 * memory (process entries, lock tables): 10 slots, not 100, make 8 MB in all with the buffers,
 * and 2 MiB less resident than 20 did (bench/binary.ts).
 */
export const PGLITE_SETTINGS = { shared_buffers: '4MB', max_connections: '10' } as const

const pgliteStartParams = () => [
  ...PGlite.defaultStartParams,
  ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
]

/** A data dir PGlite has initialised before: opening it needs no initdb. */
const initialised = (dataDir: string | null) => dataDir !== null && existsSync(join(dataDir, 'PG_VERSION'))

/** Suffix of an embedded PGlite file as `bun run build` stores it. */
export const EMBEDDED_SUFFIX = '.zst'

/**
 * An embedded PGlite file, uncompressed. Read from the executable, a file's pages stay in the
 * process's resident memory: compressed, the wasm and the fs bundle hold 4 MB of it instead of 15.
 */
const embedded = async (path: string) =>
  Bun.zstdDecompress(await Bun.file(projectFile(path + EMBEDDED_SUFFIX)).bytes())

/**
 * The fs bundle as PGlite reads it: its files are views into the buffer `arrayBuffer()` returns,
 * and PGlite keeps its options for its lifetime, so a real Blob would hold a second copy. The
 * first call gets the decompressed bytes themselves; a later one (the instance that runs initdb
 * on a first start) a copy of its own, as its files must not share memory with the server's.
 */
function onlyCopy(bytes: Uint8Array): Blob {
  let handedOut = bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength
  return {
    arrayBuffer: async () => {
      if (handedOut) return bytes.slice().buffer
      handedOut = true
      return bytes.buffer
    },
  } as Blob
}

/** Whether process `pid` is running (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Prefix of the fs bundle's copy in a data dir (see `mappedFsBundle`). */
export const FS_BUNDLE_COPY = '.parley-pglite-fs-'

/**
 * The fs bundle mapped from an uncompressed copy in the data dir: PGlite reads few of its files
 * once started (time zones, encodings), and of a mapped file only the pages read are resident,
 * as clean page cache, where the bundle decompressed into the heap held 6 MiB. The copy is written
 * by the first start that finds none for this bundle (named by a hash of it), replacing older
 * ones, and only in a data dir initdb has made: the start that runs initdb reads the bundle from
 * the executable as before. Mapped private: PGlite's writes to its in-memory files stay in memory.
 */
async function mappedFsBundle(dataDir: string): Promise<Uint8Array> {
  const compressed = await Bun.file(projectFile(PGLITE_FILES.fsBundle + EMBEDDED_SUFFIX)).bytes()
  const name = `${FS_BUNDLE_COPY}${Bun.hash(compressed).toString(36)}.data`
  const path = join(dataDir, name)
  // A copy of another size (cut short by hand, or by a full disk before the rename below existed)
  // would stop every start: it is written again.
  if (!existsSync(path) || statSync(path).size !== zstdContentSize(compressed)) {
    // Complete on disk before it takes its name: a torn copy would stop every later start.
    const partial = `${path}.${process.pid}`
    const bytes = await Bun.zstdDecompress(compressed)
    try {
      const fd = openSync(partial, 'w')
      try {
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(partial, path)
    } catch (err) {
      rmSync(partial, { force: true })
      throw err
    }
    // Copies of other bundles (an older Parley), and partial copies whose writer died (killed
    // while writing), not another living process's copy being written.
    for (const old of readdirSync(dataDir)) {
      if (!old.startsWith(FS_BUNDLE_COPY) || old === name) continue
      const writer = old.endsWith('.data') ? null : Number(old.slice(old.lastIndexOf('.') + 1))
      if (writer === null || (Number.isInteger(writer) && !isAlive(writer)))
        rmSync(join(dataDir, old), { force: true })
    }
  }
  return Bun.mmap(path, { shared: false })
}

/**
 * The uncompressed size a zstd frame declares in its header (Bun's zstd writes it), or null when
 * the header has none. RFC 8878, 3.1.1.1: the descriptor byte says how long each field is.
 */
export function zstdContentSize(frame: Uint8Array): number | null {
  const magic =
    frame.length >= 5 && frame[0] === 0x28 && frame[1] === 0xb5 && frame[2] === 0x2f && frame[3] === 0xfd
  if (!magic) return null
  const descriptor = frame[4]!
  const singleSegment = (descriptor >> 5) & 1
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]!
  const length = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!
  if (length === 0 || at + length > frame.length) return null
  let size = 0
  for (let i = length - 1; i >= 0; i--) size = size * 256 + frame[at + i]!
  return length === 2 ? size + 256 : size
}

async function embeddedPgliteFiles(dataDir: string | null) {
  if (!Bun.isStandaloneExecutable) return {}
  const wasm = async (path: string) => WebAssembly.compile(await embedded(path))
  const restart = dataDir !== null && initialised(dataDir)
  const [pgliteWasmModule, fsBundle] = await Promise.all([
    wasm(PGLITE_FILES.pgliteWasm),
    (restart ? mappedFsBundle(dataDir) : embedded(PGLITE_FILES.fsBundle)).then(onlyCopy),
  ])
  return {
    pgliteWasmModule,
    // initdb runs only on the first start; compiled for nothing on every later one.
    ...(restart ? {} : { initdbWasmModule: await wasm(PGLITE_FILES.initdbWasm) }),
    fsBundle,
  }
}

/** How Parley opens PGlite on `dataDir` (in memory when null). */
export async function pgliteOptions(dataDir: string | null): Promise<PGliteOptions> {
  return {
    ...(dataDir ? { dataDir } : {}),
    ...(await embeddedPgliteFiles(dataDir)),
    startParams: pgliteStartParams(),
  }
}

export async function openPglite(dataDir: string | null): Promise<Database> {
  if (dataDir && !existsSync(dataDir)) mkdirSync(dataDir, { recursive: true })
  const pg = new PGlite(await pgliteOptions(dataDir))
  await pg.waitReady
  await pg.exec(`set time zone 'UTC'`)
  return wrapPglite(pg)
}

export function wrapPglite(pg: PGlite): Database {
  const c = counter()
  const db = drizzlePglite(pg, { schema, logger: c.logger }) as unknown as Db
  return {
    kind: 'pglite',
    db,
    answerDb: db,
    sql: null,
    pglite: pg,
    query: async (text, params = []) => (await pg.query(text, params)).rows as never,
    queryCount: c.count,
    ping: async () => {
      await pg.query('select 1')
    },
    close: () => pg.close(),
  }
}

/**
 * Opens the configured database. With PGlite, if a server is already running on the data dir it
 * owns the files, so we connect to the socket it serves instead of opening them a second time.
 */
export async function openDatabase(cfg: { databaseUrl: string | null; dataDir: string }): Promise<Database> {
  if (cfg.databaseUrl) return connectPostgres(cfg.databaseUrl)
  const socket = pgliteSocketPath(cfg.dataDir)
  if (existsSync(socket)) {
    const viaSocket = connectPostgres('postgres://postgres@localhost/postgres', { max: 1, path: socket })
    try {
      await viaSocket.ping()
      return viaSocket
    } catch {
      await viaSocket.close().catch(() => {})
    }
  }
  return openPglite(cfg.dataDir)
}

/** Rows of a raw `db.execute(sql…)`: postgres.js returns an array, PGlite an object with `rows`. */
export function resultRows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[]
  return ((result as { rows?: T[] } | null)?.rows ?? []) as T[]
}

/** A typed SQL array literal of bound values (`array[$1::uuid, …]`, or an empty typed array). */
export function sqlArray(values: readonly string[], type: 'uuid' | 'text'): SQL {
  if (values.length === 0) return sql.raw(`array[]::${type}[]`)
  return sql`array[${sql.join(
    values.map((v) => sql`${v}::${sql.raw(type)}`),
    sql`, `,
  )}]`
}
