// Load: AGENTS concurrent agents against one Parley (a child process, so its RSS is its own), for
// SECONDS. Each agent loops: logs three steps, asks a question, parks a long-poll for the answer
// while a person answers it over REST, and checks it got exactly that answer. Afterwards the
// database is counted: every message stored once, every question answered once, every agent's
// read cursor on its last answer. Figures: errors, p50/p99 per operation, the server's RSS at
// start, middle and end. `bun bench/load.ts [seconds] [agents]` runs it alone (default 60 s, 200).
import postgres from 'postgres'
import type { Ceilings } from './ceilings.ts'
import { startChildServer } from './child-server.ts'
import {
  agentClient,
  createBenchDatabase,
  machine,
  ms,
  percentile,
  type Row,
  type Section,
  throughput,
} from './lib.ts'

const OPS = ['step', 'ask', 'answer', 'receive'] as const
type Op = (typeof OPS)[number]

type AgentTally = {
  id: string
  steps: number
  questions: number
  received: number
  lastAnswer: string | null
}

export async function load(
  databaseUrl: string,
  seconds = 60,
  agents = 200,
  ceiling?: Ceilings,
): Promise<Section> {
  const server = await startChildServer(databaseUrl)
  const client = agentClient(server.base, server.key)
  const times: Record<Op, number[]> = { step: [], ask: [], answer: [], receive: [] }
  const errors: string[] = []
  const rss: { at: string; kiB: number }[] = [{ at: 'start', kiB: server.rssKiB() }]
  const timed = async <T>(op: Op, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now()
    const out = await f()
    times[op].push(performance.now() - t0)
    return out
  }
  const deadline = Date.now() + seconds * 1000
  const agent = async (): Promise<AgentTally> => {
    const id = crypto.randomUUID()
    const tally: AgentTally = { id, steps: 0, questions: 0, received: 0, lastAnswer: null }
    while (Date.now() < deadline) {
      try {
        for (let s = 0; s < 3; s++) {
          await timed('step', () =>
            client.post('/api/v1/messages/agent', {
              agent_instance_id: id,
              agent_type: 'load',
              content: `step ${tally.steps}`,
            }),
          )
          tally.steps++
        }
        const q = await timed('ask', () => client.ask(id, `Question ${tally.questions}? [YES/NO]`))
        tally.questions++
        const answer = `answer ${tally.questions}`
        const [got] = await Promise.all([
          timed('receive', () =>
            client.get(`/api/v1/messages/pending?agent_instance_id=${id}&last_read_message_id=${q}&wait=30`),
          ),
          timed('answer', () =>
            client.post('/api/v1/messages/user', {
              agent_instance_id: id,
              content: answer,
              mark_as_read: false,
            }),
          ),
        ])
        const contents = (got.messages as { id: string; content: string }[]).map((m) => m.content)
        if (contents.length !== 1 || contents[0] !== answer) {
          errors.push(`agent ${id}: expected [${answer}], got ${JSON.stringify(contents)}`)
        } else {
          tally.received++
          tally.lastAnswer = got.messages[0].id
        }
      } catch (err) {
        errors.push(`agent ${id}: ${(err as Error).message}`)
        await Bun.sleep(100)
      }
    }
    return tally
  }
  const middle = setTimeout(() => rss.push({ at: 'middle', kiB: server.rssKiB() }), (seconds * 1000) / 2)
  const started = performance.now()
  const tallies = await Promise.all(Array.from({ length: agents }, agent))
  const elapsed = (performance.now() - started) / 1000
  clearTimeout(middle)
  rss.push({ at: 'end', kiB: server.rssKiB() })

  // Counted in the database: each agent's messages, its questions' answers, and its cursor.
  const pg = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const failures = [...errors.slice(0, 5)]
  if (errors.length > 5) failures.push(`… and ${errors.length - 5} more errors`)
  try {
    const rows = await pg<
      {
        id: string
        agent: number
        user_msgs: number
        answered: number
        unanswered: number
        cursor: string | null
      }[]
    >`
      select i.id::text,
        count(*) filter (where m.sender = 'AGENT')::int as agent,
        count(*) filter (where m.sender = 'USER')::int as user_msgs,
        count(*) filter (where m.requires_user_input and m.answer_message_id is not null)::int as answered,
        count(*) filter (where m.requires_user_input and m.answer_message_id is null)::int as unanswered,
        i.last_read_message_id::text as cursor
      from agent_instances i join messages m on m.instance_id = i.id
      where i.id = any(${tallies.map((t) => t.id)}::uuid[])
      group by i.id`
    const byId = new Map(rows.map((r) => [r.id, r]))
    let mismatched = 0
    for (const t of tallies) {
      const r = byId.get(t.id)
      const ok =
        r &&
        r.agent === t.steps + t.questions &&
        r.user_msgs === t.received &&
        r.answered === t.received &&
        r.unanswered === t.questions - t.received &&
        (t.lastAnswer === null || r.cursor === t.lastAnswer)
      if (!ok) {
        mismatched++
        if (mismatched <= 3)
          failures.push(`agent ${t.id}: client ${JSON.stringify(t)} vs database ${JSON.stringify(r)}`)
      }
    }
    if (mismatched > 0)
      failures.push(`${mismatched} agents whose database rows differ from what they sent and got`)
  } finally {
    await pg.end()
    await server.stop()
  }

  const total = (f: (t: AgentTally) => number) => tallies.reduce((n, t) => n + f(t), 0)
  const mib = (kiB: number) => `${(kiB / 1024).toFixed(0)} MiB`
  const rows: Row[] = [
    { what: 'errors', value: String(errors.length), target: '0', ok: errors.length === 0 },
    { what: 'steps stored', value: String(total((t) => t.steps)) },
    {
      what: 'requests per second (all four kinds)',
      value: throughput(OPS.reduce((n, op) => n + times[op].length, 0) / elapsed, ceiling),
    },
    {
      what: 'questions asked / answers delivered',
      value: `${total((t) => t.questions)} / ${total((t) => t.received)}`,
    },
    ...OPS.flatMap((op) => {
      const s = times[op].sort((a, b) => a - b)
      return [
        {
          what: `${op} p50 / p99 (${s.length} calls)`,
          value: `${ms(percentile(s, 50))} / ${ms(percentile(s, 99))}`,
        },
      ]
    }),
    { what: 'server RSS start / middle / end', value: rss.map((r) => mib(r.kiB)).join(' / ') },
  ]
  return {
    title: `Load: ${agents} concurrent agents for ${seconds} s`,
    notes: [
      `${agents} agents, each looping: 3 steps, 1 question, a parked long-poll answered over REST at once; ` +
        `Parley in a child process on Postgres, agents in the bench process (real HTTP on 127.0.0.1); ` +
        `${elapsed.toFixed(0)} s of load. Every agent's rows are counted in the database afterwards.`,
    ],
    rows,
    failures,
  }
}

if (import.meta.main) {
  const seconds = Number(process.argv[2] ?? 60)
  const agents = Number(process.argv[3] ?? 200)
  const db = await createBenchDatabase()
  try {
    const m = machine()
    console.log(`machine: ${m.cpu}, ${m.cores} cores, Bun ${m.bun}`)
    const s = await load(db.url, seconds, agents)
    console.log(`\n${s.title}`)
    for (const r of s.rows) console.log(`  ${r.what}: ${r.value}${r.target ? `  (target ${r.target})` : ''}`)
    for (const f of s.failures) console.log(`  CHECK FAILED: ${f}`)
    process.exitCode = s.failures.length === 0 ? 0 : 1
  } finally {
    await db.drop()
  }
}
