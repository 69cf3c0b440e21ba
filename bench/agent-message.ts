// An agent's message as the agent feels it: one agent posting progress to its instance through
// POST /api/v1/messages/agent, one request after another, from the request to its response. With
// `--against <checkout>`, the posts alternate one by one between this checkout's server and the
// other's (A B B A ...), each on a Postgres database of its own, so a machine whose load changes
// from one second to the next weighs on both alike. With `--db-delay <ms>`, each server reaches
// its Postgres through a local relay that holds every packet that long each way, as a database on
// another machine would (on Fly.io, a managed Postgres in the same region is about a millisecond
// away): on the bench machine's loopback a round trip to Postgres costs a few microseconds, and a
// change in round trips barely shows.
// `bun bench/agent-message.ts [--against <checkout>] [--db-delay <ms>]`
import postgres from 'postgres'
import { agentClient, createBenchDatabase, ms, percentile, startInProcess } from './lib.ts'

const WARMUP = 100
const ROUNDS = 1000

const option = (name: string) => {
  const at = process.argv.indexOf(name)
  return at > 0 ? process.argv[at + 1] : undefined
}
const other = option('--against')
const dbDelayMs = Number(option('--db-delay') ?? 0)

/**
 * A TCP relay to `port` on this machine that holds what passes through it `delayMs` each way, in
 * order. Returns the port it listens on.
 */
function delayingRelay(port: number, delayMs: number): number {
  type Side = { write(data: Uint8Array): unknown; end(): void }
  const later = (to: () => Side | undefined, data: Uint8Array) => {
    const copy = new Uint8Array(data)
    setTimeout(() => to()?.write(copy), delayMs)
  }
  const server = Bun.listen<{ upstream?: Side; pending: Uint8Array[] }>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(client) {
        client.data = { pending: [] }
        Bun.connect({
          hostname: '127.0.0.1',
          port,
          socket: {
            open(upstream) {
              client.data.upstream = upstream
              for (const chunk of client.data.pending) upstream.write(chunk)
            },
            data: (_, data) => later(() => client, data),
            close: () => {
              setTimeout(() => client.end(), delayMs)
            },
          },
        })
      },
      data(client, data) {
        const copy = new Uint8Array(data)
        setTimeout(() => {
          if (client.data.upstream) client.data.upstream.write(copy)
          else client.data.pending.push(copy)
        }, delayMs)
      },
      close: (client) => {
        setTimeout(() => client.data.upstream?.end(), delayMs)
      },
    },
  })
  return server.port
}

/** The database's URL, through a delaying relay when asked for. */
const reached = (url: string) => {
  if (dbDelayMs <= 0) return url
  const u = new URL(url)
  u.port = String(delayingRelay(Number(u.port || 5432), dbDelayMs))
  return u.toString()
}

/** The median of a bare round trip (`select 1`, prepared) to the database at `url`. */
async function roundTrip(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const samples: number[] = []
    for (let i = 0; i < 300; i++) {
      const start = performance.now()
      await sql`select 1`
      if (i >= 100) samples.push(performance.now() - start)
    }
    return percentile(
      samples.sort((a, b) => a - b),
      50,
    )
  } finally {
    await sql.end()
  }
}

const starts: [string, typeof startInProcess][] = [['this checkout', startInProcess]]
if (other) starts.push([other, (await import(`${other}/bench/lib.ts`)).startInProcess])

const sides = []
for (const [name, start] of starts) {
  const db = await createBenchDatabase()
  const run = await start(reached(db.url))
  const client = agentClient(run.base, run.key)
  const instanceId = crypto.randomUUID()
  const post = (content: string) =>
    client.post('/api/v1/messages/agent', {
      agent_instance_id: instanceId,
      agent_type: 'bench',
      content,
      requires_user_input: false,
    })
  // The first message creates the instance; the rounds measure the common case, an existing one.
  await post('hello')
  sides.push({ name, db, run, post, samples: [] as number[], roundTrip: await roundTrip(reached(db.url)) })
}
try {
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const start = performance.now()
      await side.post(`Step ${round}: ran the tests, 412 passed.`)
      if (round >= WARMUP) side.samples.push(performance.now() - start)
    }
  }
} finally {
  for (const side of sides) {
    await side.run.parley.stop()
    await side.db.drop()
  }
}
const via = dbDelayMs > 0 ? `, Postgres ${dbDelayMs} ms away each way` : ''
console.log(`Agent message (POST /api/v1/messages/agent), ${ROUNDS} posts each after ${WARMUP} warm-up${via}`)
const p50s = sides.map((side) => {
  const s = side.samples.sort((a, b) => a - b)
  const [p50, p90, p99] = [50, 90, 99].map((p) => percentile(s, p))
  console.log(
    `  ${side.name}: p50 ${ms(p50!)}, p90 ${ms(p90!)}, p99 ${ms(p99!)}` +
      ` (a bare round trip to its Postgres: p50 ${ms(side.roundTrip)})`,
  )
  return { p50: p50!, p99: p99! }
})
if (p50s.length === 2) {
  const [a, b] = p50s as [{ p50: number; p99: number }, { p50: number; p99: number }]
  console.log(`  this / other: p50 ${(a.p50 / b.p50).toFixed(2)}, p99 ${(a.p99 / b.p99).toFixed(2)}`)
}
