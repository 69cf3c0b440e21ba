// Dashboard search at 1,000,000 messages: GET /?q=… timed at the client for a mix of what people
// type (an instance's name, a file name, the start of a word, a word found nowhere), p95 over the
// mix, and apart from it a word found in every message (the worst case: every instance matches and
// all of them are ranked). Used by bench/dashboard.ts on its seeded data; run alone
// (`bun bench/dashboard-search.ts`) it seeds its own database, prints the query plan and compares
// single-row message inserts with and without the search column and index in the same run.
import { sql as dsql } from 'drizzle-orm'
import postgres from 'postgres'
import { inboxPage, normalizeFilters } from '../src/core/inbox.ts'
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
async function plan(db: Db, userId: string, q: string): Promise<string> {
  let lines: string[] = []
  const explaining = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'execute') return Reflect.get(target, prop, receiver)
      return async (query: ReturnType<typeof dsql>) => {
        const result = (await target.execute(dsql`explain (analyze, buffers) ${query}`)) as unknown
        const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
          'QUERY PLAN': string
        }[]
        lines = rows.map((r) => r['QUERY PLAN'])
        return []
      }
    },
  })
  await inboxPage({ db: explaining, bus: null as never }, userId, normalizeFilters({ q }))
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

async function main() {
  const db = await createBenchDatabase()
  let run: Running | null = null
  try {
    run = await startInProcess(db.url)
    const user = await webUser(run)
    const sql = postgres(db.url, { max: 1, onnotice: () => {} })
    const seedStart = performance.now()
    await seedDashboard(sql, user.id, 10_000, 1_000_000)
    console.log(`seeded in ${((performance.now() - seedStart) / 1000).toFixed(0)} s`)
    const base = run.base
    const get: Get = async (path) => {
      const start = performance.now()
      const res = await fetch(base + path, { headers: { cookie: user.cookie } })
      const text = await res.text()
      return { status: res.status, text, took: performance.now() - start }
    }
    const figures = await searchFigures(get)
    for (const r of figures.rows)
      console.log(`  ${r.what}: ${r.value}${r.target ? `  target ${r.target}` : ''}`)
    for (const f of figures.failures) console.log(`  CHECK FAILED: ${f}`)
    for (const q of (process.env.PLANS ?? 'module_3.ts,instance 17').split(',').filter(Boolean)) {
      console.log(`\nEXPLAIN ANALYZE, q = ${q}\n${await plan(run.parley.database.db, user.id, q)}`)
    }
    const [one] = await sql`select id from agent_instances where user_id = ${user.id} limit 1`
    const rates = await insertCost(db.url, user.id, one!.id as string)
    console.log(
      `\nsingle-row message inserts, 8 connections: ${rates.ins_plain.toFixed(0)}/s without the search ` +
        `column and index, ${rates.ins_search.toFixed(0)}/s with them ` +
        `(${((rates.ins_search / rates.ins_plain) * 100).toFixed(0)} %)`,
    )
    await sql.end()
  } finally {
    await run?.parley.stop()
    await db.drop()
  }
}

if (import.meta.main) await main()
