// Ingest: agent messages per second through POST /api/v1/messages/agent with 32 concurrent agents,
// next to the physical ceiling measured in the same run: raw single-row inserts into the same
// `messages` table (same indexes), autocommit, prepared, from 32 connections. The ratio shows what
// a message costs beyond the one row it must write: HTTP, auth, validation, the instance lock,
// the cursor, the queued user messages and the event.
// A second figure runs the same 32 agents in a Worker (bench/ingest-agents.ts): the first one's
// client shares the server's JS thread, this one's does not. Both are printed; neither replaces
// the other.
import postgres from 'postgres'
import type { Ceilings } from './ceilings.ts'
import { agentClient, type Running, rate, type Section, throughput } from './lib.ts'

const AGENTS = 32
const SECONDS = 10

/** `AGENTS` agents posting to the server at `base`, each to an instance of its own: messages per second. */
export async function postingAgents(base: string, key: string): Promise<number> {
  const client = agentClient(base, key)
  const instances = Array.from({ length: AGENTS }, () => crypto.randomUUID())
  const post = (i: number, content: string) =>
    client.post('/api/v1/messages/agent', {
      agent_instance_id: instances[i],
      agent_type: 'ingest',
      content,
      requires_user_input: false,
    })
  // The first message creates each instance; a short warm-up gets the JIT and pool going.
  await Promise.all(instances.map((_, i) => post(i, 'hello')))
  await rate(AGENTS, 1, (i) => post(i, 'warm-up step'))
  return rate(AGENTS, SECONDS, async (i) => {
    await post(i, 'Ran the tests: 412 passed, 0 failed.')
  })
}

export const throughHttp = (run: Running): Promise<number> => postingAgents(run.base, run.key)

/** The same agents as throughHttp, posting from a Worker thread instead of the server's. */
export async function throughHttpFromWorker(run: Running): Promise<number> {
  const worker = new Worker(new URL('./ingest-agents.ts', import.meta.url).href)
  try {
    const done = new Promise<{ perSecond?: number; error?: string }>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data)
      worker.onerror = (event) => reject(new Error(event.message))
    })
    worker.postMessage({ base: run.base, key: run.key })
    const result = await done
    if (result.perSecond === undefined) throw new Error(`ingest agents worker: ${result.error}`)
    return result.perSecond
  } finally {
    worker.terminate()
  }
}

const INSERT = `insert into messages (id, instance_id, user_id, sender, content) values ($1, $2, $3, 'AGENT', $4)`

/** Raw single-row inserts into `messages`, one connection per loop, each its own transaction. */
export async function rawInserts(databaseUrl: string): Promise<number> {
  const sql = postgres(databaseUrl, { max: AGENTS, onnotice: () => {}, connection: { TimeZone: 'UTC' } })
  try {
    const [user] = await sql<{ id: string }[]>`select id from users limit 1`
    const [type] = await sql<{ id: string }[]>`
      insert into agent_types (user_id, name) values (${user!.id}, 'ceiling')
      on conflict (user_id, name) do update set name = excluded.name returning id`
    const instances = Array.from({ length: AGENTS }, () => crypto.randomUUID())
    for (const id of instances) {
      await sql`insert into agent_instances (id, user_id, agent_type_id, status)
        values (${id}, ${user!.id}, ${type!.id}, 'ACTIVE')`
    }
    const step = async (i: number) => {
      const params = [Bun.randomUUIDv7(), instances[i]!, user!.id, 'Ran the tests: 412 passed, 0 failed.']
      await sql.unsafe(INSERT, params, { prepare: true })
    }
    await rate(AGENTS, 1, step)
    return await rate(AGENTS, SECONDS, step)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

export async function ingest(run: Running, databaseUrl: string, floor?: Ceilings): Promise<Section> {
  const http = await throughHttp(run)
  // Straight after the HTTP run, as before: the rows the Worker run adds must not weigh on it.
  const ceiling = await rawInserts(databaseUrl)
  const fromWorker = await throughHttpFromWorker(run)
  const ratio = http / ceiling
  const workerRatio = fromWorker / ceiling
  return {
    title: 'Ingest (POST /api/v1/messages/agent, 32 concurrent agents)',
    notes: [
      `${AGENTS} agents, each its own instance, posting back to back for ${SECONDS} s after a 1 s warm-up. ` +
        'Client and server share one process (and one JS thread) with Postgres on the same 2 cores.',
      `Ceiling: raw single-row inserts into \`messages\` (the same table and indexes), autocommit, prepared, ` +
        `from ${AGENTS} postgres.js loops over ${AGENTS} connections, measured in the same run: the most ` +
        'this Postgres can take, with no HTTP, no instance lock, no cursor and no event.',
      'A second measure, added next to the first and not replacing it: the same 32 agents, each with a ' +
        'new instance, run in a Worker thread (bench/ingest-agents.ts), so the HTTP client no longer ' +
        "shares the server's JS thread (the process, the 2 cores and Postgres are still shared). " +
        'Its ratio is to the same ceiling.',
    ],
    rows: [
      { what: 'through HTTP', value: throughput(http, floor, 'msg/s') },
      { what: 'ceiling (raw single-row inserts)', value: `${ceiling.toFixed(0)} msg/s` },
      { what: 'HTTP / ceiling', value: `${(ratio * 100).toFixed(0)} %`, target: '>= 30 %', ok: ratio >= 0.3 },
      { what: 'through HTTP, agents in a Worker', value: throughput(fromWorker, floor, 'msg/s') },
      { what: 'HTTP (agents in a Worker) / ceiling', value: `${(workerRatio * 100).toFixed(0)} %` },
    ],
    failures: [],
  }
}
