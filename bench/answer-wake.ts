// Answer latency alone, on a Postgres of its own: the long-poll (and with --hooks the hook) rounds
// of `bun run bench` without the rest, to compare a change before and after in one short run.
// Then, in core without HTTP, rounds alternate between a long-poll woken by an event that carries
// the reply (answered from memory) and one whose event does not (it reads the database, as every
// woken long-poll did before), so the two paths are compared on the same machine at the same time.
// With `--against <checkout>`, only the long-poll rounds, alternating one by one between this
// checkout's server and the other's (A B B A ...): on a machine whose load changes from one second
// to the next, runs one after the other compare the load, not the code.
// `bun bench/answer-wake.ts [--hooks] [--against <checkout>]`
import { answerQuestion } from '../src/core/answers.ts'
import type { Core } from '../src/core/context.ts'
import { postAgentMessage } from '../src/core/messages.ts'
import { getPending } from '../src/core/pending.ts'
import type { BusEvent, EventBus } from '../src/events/bus.ts'
import { answerLatency, answerRound, PARK_MS, WARMUP } from './answer-latency.ts'
import { hookAnswerLatency } from './hooks.ts'
import {
  agentClient,
  createBenchDatabase,
  makeBenchUser,
  ms,
  percentile,
  type Running,
  sleep,
  startInProcess,
} from './lib.ts'

const ROUNDS = 300

/** The same bus, but the events it publishes carry ids only. */
const idsOnly = (bus: EventBus): EventBus => ({
  publish: (e) => {
    const { message: _m, answer: _a, ...ids } = e as BusEvent & { message?: unknown; answer?: unknown }
    return bus.publish(ids as BusEvent)
  },
  subscribe: (t, l) => bus.subscribe(t, l),
  size: () => bus.size(),
  close: () => bus.close(),
})

async function wokenPaths(run: Running) {
  const core = run.parley.core
  const user = await makeBenchUser(core.db)
  const instanceId = crypto.randomUUID()
  const answerers: Record<string, Core> = {
    memory: core,
    read: { db: core.db, bus: idsOnly(core.bus) },
  }
  const samples: Record<string, number[]> = { memory: [], read: [] }
  /** From the event reaching this process to the long-poll's result: the woken path alone. */
  const woken: Record<string, number[]> = { memory: [], read: [] }
  let heardAt = 0
  core.bus.subscribe({ instanceId }, (e) => {
    if (e.type === 'message.created' && e.sender === 'USER') heardAt = performance.now()
  })
  for (let round = 0; round < 2 * (WARMUP + ROUNDS); round++) {
    const path = round % 2 === 0 ? 'memory' : 'read'
    const { messageId } = await postAgentMessage(core, {
      userId: user.id,
      instanceId,
      agentType: 'bench',
      content: `Question ${round}?`,
      requiresUserInput: true,
    })
    const waiting = getPending(core, { userId: user.id, instanceId, lastRead: messageId, waitMs: 30_000 })
    await sleep(PARK_MS)
    const start = performance.now()
    const [result] = await Promise.all([
      waiting.then((r) => ({ r, at: performance.now() })),
      answerQuestion(answerers[path]!, {
        actorUserId: user.id,
        instanceId,
        answer: { text: `answer ${round}` },
        channel: 'api',
      }),
    ])
    if (result.r.messages[0]?.content !== `answer ${round}`) throw new Error(`round ${round}: wrong answer`)
    if (round < 2 * WARMUP) continue
    samples[path]!.push(result.at - start)
    woken[path]!.push(result.at - heardAt)
  }
  const show = (s: number[]) => {
    s.sort((a, b) => a - b)
    return `p50 ${ms(percentile(s, 50))}, p99 ${ms(percentile(s, 99))}`
  }
  for (const path of ['memory', 'read']) {
    console.log(`  ${path}: answer -> result ${show(samples[path]!)}; event -> result ${show(woken[path]!)}`)
  }
}

/** Long-poll rounds alternating between this checkout's server and `other`'s, each on its own database. */
async function against(other: string) {
  const { startInProcess: startOther } = await import(`${other}/bench/lib.ts`)
  const sides = []
  for (const [name, start] of [
    ['this checkout', startInProcess],
    [other, startOther as typeof startInProcess],
  ] as const) {
    const db = await createBenchDatabase()
    const run = await start(db.url)
    const client = agentClient(run.base, run.key)
    sides.push({ name, db, run, client, instanceId: crypto.randomUUID(), samples: [] as number[] })
  }
  try {
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const r = await answerRound(side.client, side.client, side.instanceId, round)
        if ('failure' in r) throw new Error(`${side.name}: ${r.failure}`)
        if (round >= WARMUP) side.samples.push(r.ms)
      }
    }
  } finally {
    for (const side of sides) {
      await side.run.parley.stop()
      await side.db.drop()
    }
  }
  console.log(`Answer latency, ${ROUNDS} rounds each after ${WARMUP} warm-up, alternating`)
  const figures = sides.map((side) => {
    const s = side.samples.sort((a, b) => a - b)
    const f = { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.at(-1)! }
    console.log(`  ${side.name}: p50 ${ms(f.p50)}, p90 ${ms(f.p90)}, p99 ${ms(f.p99)}, max ${ms(f.max)}`)
    return f
  })
  const [mine, theirs] = figures as [(typeof figures)[0], (typeof figures)[0]]
  const ratio = (k: keyof typeof mine) => (mine[k] / theirs[k]).toFixed(2)
  console.log(
    `  this / other: p50 ${ratio('p50')}, p90 ${ratio('p90')}, p99 ${ratio('p99')}, max ${ratio('max')}`,
  )
}

const otherAt = process.argv.indexOf('--against')
if (otherAt >= 0) {
  const other = process.argv[otherAt + 1]
  if (!other) throw new Error('--against needs the path of another checkout')
  await against(other)
  process.exit(0)
}

const db = await createBenchDatabase()
try {
  const run = await startInProcess(db.url)
  try {
    const sections = [await answerLatency(run)]
    if (process.argv.includes('--hooks')) sections.push(await hookAnswerLatency(run))
    for (const s of sections) {
      console.log(s.title)
      for (const r of s.rows) console.log(`  ${r.what}: ${r.value}${r.target ? ` (target ${r.target})` : ''}`)
      for (const f of s.failures) console.log(`  failure: ${f}`)
    }
    console.log(
      'Answer -> woken long-poll in core, alternating rounds (answerQuestion to getPending returning)',
    )
    await wokenPaths(run)
  } finally {
    await run.parley.stop()
  }
} finally {
  await db.drop()
}
