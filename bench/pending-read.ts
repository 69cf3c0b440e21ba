// GET /messages/pending with a cursor and no wait, as Omnara's clients poll: one read of what a
// person wrote since the cursor, and the cursor moved past it. Each round a person's message is
// posted (not timed), then the agent's read that returns it and moves the cursor is timed, then a
// read that finds nothing new. With `--against <checkout>` the rounds alternate between this
// checkout's server and the other's (A B B A ...), each on a database of its own, so a machine
// whose load changes from second to second weighs on both alike.
// `bun bench/pending-read.ts [--against <checkout>]`
import { agentClient, createBenchDatabase, ms, percentile, startInProcess } from './lib.ts'

const WARMUP = 50
const ROUNDS = 1000

type Side = {
  name: string
  client: ReturnType<typeof agentClient>
  instanceId: string
  cursor: string
  found: number[]
  empty: number[]
}

/** One round: a person's message, then two timed reads (it, then nothing). */
async function round(side: Side, i: number, keep: boolean) {
  const { client, instanceId } = side
  const content = `reply ${i}`
  await client.post('/api/v1/messages/user', { agent_instance_id: instanceId, content, mark_as_read: false })
  const path = () =>
    `/api/v1/messages/pending?agent_instance_id=${instanceId}&last_read_message_id=${side.cursor}`
  let start = performance.now()
  const found = await client.get(path())
  const foundMs = performance.now() - start
  if (found.status !== 'ok' || found.messages?.[0]?.content !== content)
    throw new Error(`${side.name}: round ${i}: ${JSON.stringify(found).slice(0, 200)}`)
  side.cursor = found.messages[0].id
  start = performance.now()
  const empty = await client.get(path())
  const emptyMs = performance.now() - start
  if (empty.status !== 'ok' || empty.messages.length !== 0)
    throw new Error(`${side.name}: round ${i}: ${JSON.stringify(empty).slice(0, 200)}`)
  if (keep) {
    side.found.push(foundMs)
    side.empty.push(emptyMs)
  }
}

const summary = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b)
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99) }
}

const other = process.argv.includes('--against') ? process.argv[process.argv.indexOf('--against') + 1] : null
if (process.argv.includes('--against') && !other)
  throw new Error('--against needs the path of another checkout')
const starts: [string, typeof startInProcess][] = [['this checkout', startInProcess]]
if (other) starts.push([other, (await import(`${other}/bench/lib.ts`)).startInProcess])

const sides: Side[] = []
const cleanup: (() => Promise<void>)[] = []
try {
  for (const [name, start] of starts) {
    const db = await createBenchDatabase()
    const run = await start(db.url)
    cleanup.push(async () => {
      await run.parley.stop()
      await db.drop()
    })
    const client = agentClient(run.base, run.key)
    const instanceId = crypto.randomUUID()
    const cursor = await client.ask(instanceId, 'Which branch? [main/dev]')
    sides.push({ name, client, instanceId, cursor, found: [], empty: [] })
  }
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) await round(side, i, i >= WARMUP)
  }
} finally {
  for (const c of cleanup) await c()
}

console.log(`GET /messages/pending with a cursor, no wait: ${ROUNDS} rounds after ${WARMUP} warm-up`)
const figures = sides.map((side) => {
  const f = { found: summary(side.found), empty: summary(side.empty) }
  for (const kind of ['found', 'empty'] as const) {
    const { p50, p90, p99 } = f[kind]
    const what = kind === 'found' ? 'a message, cursor moved' : 'nothing new'
    console.log(`  ${side.name}, ${what}: p50 ${ms(p50)}, p90 ${ms(p90)}, p99 ${ms(p99)}`)
  }
  return f
})
if (figures.length === 2) {
  const [mine, theirs] = figures as [(typeof figures)[0], (typeof figures)[0]]
  for (const kind of ['found', 'empty'] as const) {
    const r = (p: 'p50' | 'p90' | 'p99') => (mine[kind][p] / theirs[kind][p]).toFixed(2)
    console.log(`  this / other, ${kind}: p50 ${r('p50')}, p90 ${r('p90')}, p99 ${r('p99')}`)
  }
}
process.exit(0)
