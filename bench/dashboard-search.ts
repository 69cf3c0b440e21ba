// Dashboard search at 1,000,000 messages: GET /?q=… timed at the client for a mix of what people
// type (an instance's name, a file name, the start of a word, a word found nowhere), p95 over the
// mix, and apart from it a word found in every message (the worst case: every instance matches and
// all of them are ranked). Used by bench/dashboard.ts on its seeded data. Run alone it seeds its
// own database where ten other people hold as many messages again, with the same words, written
// interleaved with the user's, so the search index holds everyone's matches as it would in
// production; prints p50/p95 per search, the query plans, and single-row message inserts with and
// without the search column and index. Given an older checkout
// (`bun bench/dashboard-search.ts /path/to/before`), it seeds one database for each checkout,
// migrated and served by that checkout, and measures both in turns (A B A B) in several passes.
import { sql as dsql, type SQL } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import postgres from 'postgres'
import type { Db } from '../src/db/client.ts'
import { webUser } from './dashboard.ts'
import { seedDashboard } from './dashboard-seed.ts'
import { createBenchDatabase, ms, percentile, type Row, type Running, startInProcess } from './lib.ts'

/** What a person looking for something types: names, file names, word starts, misses. */
export const SEARCHES = [
  'instance 4242',
  'instance 17',
  'Instance 9001',
  'module_3.ts',
  'module_42',
  'src/module_88.ts',
  'edi',
  'step 57 of instance 123',
  'deploy failed',
  'timeout',
]
/** In every seeded message: every instance matches and is ranked. */
export const EVERYWHERE = 'tests'

type Get = (path: string) => Promise<{ status: number; text: string; took: number }>

export async function searchFigures(get: Get, rounds = 5): Promise<{ rows: Row[]; failures: string[] }> {
  const failures: string[] = []
  for (const q of SEARCHES) await get(`/?q=${encodeURIComponent(q)}`) // warm-up
  const samples: number[] = []
  const slowest = new Map<string, number>()
  for (let round = 0; round < rounds; round++) {
    for (const q of SEARCHES) {
      const r = await get(`/?q=${encodeURIComponent(q)}`)
      if (r.status !== 200) failures.push(`search "${q}": HTTP ${r.status}`)
      samples.push(r.took)
      slowest.set(q, Math.max(slowest.get(q) ?? 0, r.took))
    }
  }
  const [worstQ, worstMs] = [...slowest].sort((a, b) => b[1] - a[1])[0]!
  // The searched-for instance is on the page.
  const named = await get(`/?q=${encodeURIComponent('instance 4242')}`)
  if (!named.text.includes('instance 4242')) failures.push('search "instance 4242" did not find it')
  const everywhere: number[] = []
  for (let i = 0; i < 3; i++) everywhere.push((await get(`/?q=${EVERYWHERE}`)).took)
  samples.sort((a, b) => a - b)
  everywhere.sort((a, b) => a - b)
  const p95 = percentile(samples, 95)
  return {
    rows: [
      { what: `search p50 (${SEARCHES.length} searches × ${rounds})`, value: ms(percentile(samples, 50)) },
      { what: 'search p95, ranked', value: ms(p95), target: '< 50 ms', ok: p95 < 50 },
      { what: `slowest search ("${worstQ}")`, value: ms(worstMs) },
      {
        what: `search for a word in every message ("${EVERYWHERE}"), median of 3`,
        value: ms(everywhere[1]!),
      },
    ],
    failures,
  }
}

/** EXPLAIN ANALYZE of the inbox query core runs for `q`. */
async function plan(
  db: Db,
  userId: string,
  q: string,
  inbox: Pick<typeof import('../src/core/inbox.ts'), 'inboxPage' | 'normalizeFilters'>,
): Promise<string> {
  let lines: string[] = []
  const dialect = new PgDialect()
  // Every select the inbox runs is explained instead (settings pass through), in a transaction too.
  const explaining = <T extends object>(handle: T): T =>
    new Proxy(handle, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver)
        if (prop === 'transaction') {
          return (fn: (tx: unknown) => unknown) =>
            (value as (f: (tx: object) => unknown) => unknown).call(target, (tx: object) =>
              fn(explaining(tx)),
            )
        }
        if (prop !== 'execute') return value
        const execute = (value as (query: SQL) => Promise<unknown>).bind(target)
        return async (query: SQL) => {
          if (/^\s*set /i.test(dialect.sqlToQuery(query).sql)) return execute(query)
          const result = await execute(dsql`explain (analyze, buffers) ${query}`)
          const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
            'QUERY PLAN': string
          }[]
          lines = rows.map((r) => r['QUERY PLAN'])
          return []
        }
      },
    })
  await inbox.inboxPage({ db: explaining(db), bus: null as never }, userId, inbox.normalizeFilters({ q }))
  return lines.join('\n')
}

/** Single-row inserts per second into `table` from 8 connections, for `seconds`. */
async function insertRate(
  sql: postgres.Sql,
  table: string,
  userId: string,
  instanceId: string,
  seconds: number,
) {
  let done = 0
  let stop = false
  const start = performance.now()
  const loops = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const n = done++
      await sql.unsafe(
        `insert into ${table} (id, instance_id, user_id, sender, content) values ($1, $2, $3, 'AGENT', $4)`,
        [
          Bun.randomUUIDv7(),
          instanceId,
          userId,
          `Ran the tests after editing src/module_${n % 97}.ts: ${n} passed.`,
        ],
      )
    }
  })
  await Bun.sleep(seconds * 1000)
  stop = true
  const rate = done / ((performance.now() - start) / 1000)
  await Promise.all(loops)
  return rate
}

/**
 * Write cost of the search column and index: the same inserts into two copies of messages, one
 * with and one without them, taking turns so the machine's noise falls on both alike.
 */
async function insertCost(url: string, userId: string, instanceId: string) {
  const sql = postgres(url, { max: 8, onnotice: () => {} })
  await sql`create table ins_search (like messages including defaults including generated including indexes)`
  await sql`create table ins_plain (like messages including defaults including indexes)`
  await sql`alter table ins_plain drop column if exists search_vector`
  const rates = { ins_plain: 0, ins_search: 0 }
  for (let turn = 0; turn < 4; turn++) {
    const table = turn % 2 === 0 ? 'ins_plain' : 'ins_search'
    rates[table] += (await insertRate(sql, table, userId, instanceId, 5)) / 2
  }
  await sql`drop table ins_search, ins_plain`
  await sql.end()
  return rates
}

const HERE = new URL('..', import.meta.url).pathname.replace(/\/$/, '')

/** Ten other people who hold, together, as many messages as the user, with the same words. */
const OTHERS = { count: 10, instances: 1_000, messages: 100_000 }

type Side = {
  label: string
  root: string
  get: Get
  plan: (q: string) => Promise<string>
  stop(): Promise<void>
}

/** A seeded database migrated and served by the checkout at `root`, and a logged-in user's GET. */
async function startSide(label: string, root: string): Promise<Side> {
  const { startInProcess: start } = (await import(`${root}/bench/lib.ts`)) as typeof import('./lib.ts')
  // This checkout's dashboard.ts imports this module: a dynamic import of it would wait forever.
  const login =
    root === HERE ? webUser : ((await import(`${root}/bench/dashboard.ts`)).webUser as typeof webUser)
  const { createUser } = (await import(`${root}/src/core/users.ts`)) as typeof import('../src/core/users.ts')
  const inbox = (await import(`${root}/src/core/inbox.ts`)) as typeof import('../src/core/inbox.ts')
  const db = await createBenchDatabase()
  const run = await start(db.url)
  const user = await login(run)
  const others: string[] = []
  for (let i = 0; i < OTHERS.count; i++) {
    const email = `other-${i}-${crypto.randomUUID().slice(0, 8)}@example.com`
    others.push((await createUser(run.parley.database.db, { email, password: 'benchmark password' })).id)
  }
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  const seedStart = performance.now()
  await seedDashboard(sql, user.id, 10_000, 1_000_000, { userIds: others, ...OTHERS })
  await sql.end()
  console.log(`${label} (${root}): seeded in ${((performance.now() - seedStart) / 1000).toFixed(0)} s`)
  return {
    label,
    root,
    get: async (path) => {
      const start = performance.now()
      const res = await fetch(run.base + path, { headers: { cookie: user.cookie } })
      const text = await res.text()
      return { status: res.status, text, took: performance.now() - start }
    },
    plan: (q) => plan(run.parley.database.db, user.id, q, inbox),
    stop: async () => {
      if (process.env.KEEP_DB) {
        console.log(`${label}: kept database ${db.url}, user ${user.id}`)
        await run.parley.stop()
        return
      }
      await run.parley.stop()
      await db.drop()
    },
  }
}

const fmt = (v: number) => v.toFixed(1).padStart(7)

/**
 * Every search of the mix on every side in turns, `rounds` times per pass; prints per pass the
 * p50 and p95 of the mix per side and, over all passes, p50 and p95 per search.
 */
async function compare(sides: Side[], passes: number, rounds: number) {
  const all = [...SEARCHES, EVERYWHERE]
  const samples = new Map<string, number[]>()
  for (const side of sides) for (const q of all) await side.get(`/?q=${encodeURIComponent(q)}`) // warm-up
  for (let pass = 1; pass <= passes; pass++) {
    const mix = new Map<string, number[]>(sides.map((s) => [s.label, []]))
    for (let round = 0; round < rounds; round++) {
      // A B, then B A: neither side always runs right after the other's heavy searches.
      const order = round % 2 === 0 ? sides : [...sides].reverse()
      for (const q of all) {
        for (const side of order) {
          const r = await side.get(`/?q=${encodeURIComponent(q)}`)
          if (r.status !== 200) throw new Error(`${side.label} search "${q}": HTTP ${r.status}`)
          const key = `${side.label}\u0000${q}`
          samples.set(key, [...(samples.get(key) ?? []), r.took])
          if (q !== EVERYWHERE) mix.get(side.label)!.push(r.took)
        }
      }
    }
    const line = sides.map((s) => {
      const sorted = mix.get(s.label)!.sort((a, b) => a - b)
      return `${s.label} p50 ${ms(percentile(sorted, 50))} p95 ${ms(percentile(sorted, 95))}`
    })
    console.log(`pass ${pass} (${SEARCHES.length} searches × ${rounds}): ${line.join(' | ')}`)
  }
  const p = (label: string, q: string, pct: number) =>
    percentile(
      [...samples.get(`${label}\u0000${q}`)!].sort((x, y) => x - y),
      pct,
    )
  console.log(
    `\nper search over ${passes * rounds} rounds, ms (p50 p95): ${sides.map((s) => s.label).join(' | ')}`,
  )
  for (const q of all) {
    const cells = sides.map((s) => `${fmt(p(s.label, q, 50))} ${fmt(p(s.label, q, 95))}`)
    const [first, second] = sides
    const ratio =
      first && second
        ? ` | after/before p50 ${(p(second.label, q, 50) / p(first.label, q, 50)).toFixed(2)}`
        : ''
    console.log(`  ${`"${q}"`.padEnd(28)} ${cells.join(' | ')}${ratio}`)
  }
}

async function main() {
  const [before] = process.argv.slice(2)
  const sides: Side[] = []
  try {
    if (before) sides.push(await startSide('before', before))
    sides.push(await startSide(before ? 'after' : 'this', HERE))
    await compare(sides, Number(process.env.PASSES ?? 3), Number(process.env.ROUNDS ?? 6))
    for (const side of sides) {
      for (const q of (process.env.PLANS ?? 'module_3.ts,deploy failed').split(',').filter(Boolean)) {
        console.log(`\n${side.label}: EXPLAIN (ANALYZE, BUFFERS), q = ${q}\n${await side.plan(q)}`)
      }
    }
    if (!process.env.SKIP_INSERTS) await insertCostReport()
  } finally {
    for (const side of sides) await side.stop()
  }
}

/** The write cost of the search column and index, on a database of its own. */
async function insertCostReport() {
  const db = await createBenchDatabase()
  let run: Running | null = null
  try {
    run = await startInProcess(db.url)
    const user = await webUser(run)
    const sql = postgres(db.url, { max: 1, onnotice: () => {} })
    await seedDashboard(sql, user.id, 10, 1_000)
    const [one] = await sql`select id from agent_instances where user_id = ${user.id} limit 1`
    await sql.end()
    const rates = await insertCost(db.url, user.id, one!.id as string)
    console.log(
      `\nsingle-row message inserts, 8 connections: ${rates.ins_plain.toFixed(0)}/s without the search ` +
        `column and index, ${rates.ins_search.toFixed(0)}/s with them ` +
        `(${((rates.ins_search / rates.ins_plain) * 100).toFixed(0)} %)`,
    )
  } finally {
    await run?.parley.stop()
    await db.drop()
  }
}

if (import.meta.main) await main()
