// Hostile input at volume: the property of test/http/hostile-input.test.ts over >= 10,000 generated
// requests (every route of the route table, mutated; test/fuzz/hostile.ts) against Parley on
// Postgres, and >= 10,000 relay messages. Every violation is counted rather than stopping at the
// first, and the seed is printed: `HOSTILE_SEED=<seed> bun bench/hostile.ts` replays the run.
import fc from 'fast-check'
import { loadConfig } from '../src/config.ts'
import { startParley } from '../src/parley.ts'
import { decodeOrRefuse, frameMessages } from '../test/fuzz/frames.ts'
import {
  describeRequest,
  fuzzTarget,
  hostileRequests,
  mcpTools,
  routeSpecs,
  send,
  violation,
} from '../test/fuzz/hostile.ts'
import { createBenchDatabase, makeBenchUser, type Section } from './lib.ts'

const REQUESTS = 10_000
const FRAMES = 20_000
/** Requests are generated a batch at a time (batch i from seed + i): some carry 1 MB strings. */
const BATCH = 250

export async function hostileInput(databaseUrl: string, seed: number): Promise<Section> {
  const parley = await startParley(loadConfig({ DATABASE_URL: databaseUrl, PORT: '0' }), { quiet: true })
  const failures: string[] = []
  const statuses = new Map<number, number>()
  const routes = new Set<string>()
  let violations = 0
  let seconds = 0
  try {
    const target = await fuzzTarget(parley, await makeBenchUser(parley.database.db))
    const arbitrary = hostileRequests(target, await mcpTools(target))
    const started = performance.now()
    for (let batch = 0; batch * BATCH < REQUESTS; batch++) {
      for (const r of fc.sample(arbitrary, { numRuns: BATCH, seed: seed + batch })) {
        const outcome = await send(target, r)
        routes.add(r.route)
        statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
        const why = violation(r, outcome)
        if (why) {
          violations++
          if (failures.length < 5) failures.push(`${why} (batch ${batch}) ${describeRequest(r)}`)
        }
      }
    }
    seconds = (performance.now() - started) / 1000
  } finally {
    await parley.stop()
  }
  let frameThrows = 0
  let refused = 0
  const framesStarted = performance.now()
  for (const { bytes } of fc.sample(frameMessages, { numRuns: FRAMES, seed })) {
    try {
      if (!Array.isArray(decodeOrRefuse(bytes))) refused++
    } catch (err) {
      frameThrows++
      if (failures.length < 10)
        failures.push(`decodeFrames threw ${(err as Error).name}: ${(err as Error).message}`)
    }
  }
  const frameMs = performance.now() - framesStarted
  const total = [...statuses.values()].reduce((a, b) => a + b, 0)
  const count = (lo: number, hi: number) =>
    [...statuses].filter(([s]) => s >= lo && s < hi).reduce((n, [, c]) => n + c, 0)
  const allRoutes = routeSpecs(parley.app).length
  return {
    title: 'Hostile input (property-based)',
    notes: [
      `Seed ${seed} (replay: \`HOSTILE_SEED=${seed} bun bench/hostile.ts\`). Requests generated from ` +
        'the route table and each route’s schemas, the MCP tools’ input schemas, the recorded hook ' +
        'payloads and the forms’ field names, then mutated; sent in-process (app.handle) one at a ' +
        'time, with row counts of every table read before and after each.',
      `Statuses: ${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, c]) => `${s}: ${c}`)
        .join(', ')}.`,
    ],
    rows: [
      { what: 'requests sent', value: String(total), target: '>= 10,000', ok: total >= REQUESTS },
      {
        what: 'routes reached',
        value: `${routes.size} of ${allRoutes}`,
        target: 'all',
        ok: routes.size === allRoutes,
      },
      { what: 'answered 5xx', value: String(count(500, 600)), target: '0', ok: count(500, 600) === 0 },
      {
        what: 'refused (4xx) with a row count changed',
        value: String(violations - count(500, 600)),
        target: '0',
        ok: violations === count(500, 600),
      },
      { what: 'accepted (2xx/3xx) / refused (4xx)', value: `${count(200, 400)} / ${count(400, 500)}` },
      { what: 'requests per second (with two row counts each)', value: (total / seconds).toFixed(0) },
      {
        what: 'relay messages decoded',
        value: `${FRAMES} (${refused} refused with FrameError) in ${frameMs.toFixed(0)} ms`,
        target: '>= 10,000',
        ok: FRAMES >= 10_000,
      },
      {
        what: 'relay decoder threw something else',
        value: String(frameThrows),
        target: '0',
        ok: frameThrows === 0,
      },
    ],
    failures,
  }
}

if (import.meta.main) {
  const seed = Number(process.env.HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 31))
  const db = await createBenchDatabase()
  try {
    const s = await hostileInput(db.url, seed)
    console.log(s.title, '\n', s.notes.join('\n'))
    for (const r of s.rows) console.log(`  ${r.what}: ${r.value}${r.ok === false ? '  (TARGET MISSED)' : ''}`)
    for (const f of s.failures) console.log(`  CHECK FAILED: ${f}`)
  } finally {
    await db.drop()
  }
}
