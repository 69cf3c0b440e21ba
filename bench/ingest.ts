// Ingest: agent messages per second through POST /api/v1/messages/agent with 32 concurrent agents,
// next to a ceiling: the same per-message transaction (lock instance, read queued user messages,
// insert the message, move the cursor) issued directly with postgres.js from 32 loops. The ratio
// shows what HTTP, auth, validation, drizzle and the event bus cost on top of the database work.
import type { SQL } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import postgres from 'postgres'
import { enqueueProgress } from '../src/core/deliveries.ts'
import { lockInstance } from '../src/core/messages.ts'
import type { Db, Tx } from '../src/db/client.ts'
import { agentClient, type Running, type Section, sleep } from './lib.ts'

const AGENTS = 32
const SECONDS = 10
/** Same pool size as the server's (src/db/client.ts connectPostgres default), for a fair ceiling. */
const POOL = 10

/** Runs `step` in `loops` concurrent loops for `seconds`; returns completed steps per second. */
async function rate(loops: number, seconds: number, step: (loop: number) => Promise<void>) {
  let done = 0
  let stop = false
  const start = performance.now()
  const workers = Array.from({ length: loops }, async (_, i) => {
    while (!stop) {
      await step(i)
      done++
    }
  })
  await sleep(seconds * 1000)
  stop = true
  const elapsed = (performance.now() - start) / 1000
  const counted = done
  await Promise.all(workers)
  return counted / elapsed
}

async function throughHttp(run: Running): Promise<number> {
  const client = agentClient(run.base, run.key)
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

// The statements drizzle sends for postAgentMessage (src/core/messages.ts), verbatim.
const QUEUED = `select "id", "content", "sender", "created_at", "requires_user_input" from "messages" where ("messages"."instance_id" = $1 and "messages"."sender" = $2 and "messages"."id" > $3) order by "messages"."id" asc`
const QUEUED_ALL = `select "id", "content", "sender", "created_at", "requires_user_input" from "messages" where ("messages"."instance_id" = $1 and "messages"."sender" = $2) order by "messages"."id" asc`
const INSERT = `insert into "messages" ("id", "instance_id", "user_id", "sender", "sender_user_id", "content", "requires_user_input", "options", "answered_at", "answer_message_id", "answered_via", "answered_by", "channel", "timeout_at", "metadata", "idempotency_key", "created_at") values ($1, $2, $3, $4, default, $5, $6, $7, default, default, default, default, default, $8, $9, $10, default)`
const UPDATE = `update "agent_instances" set "status" = case when "agent_instances"."status" in ('COMPLETED','DELETED') then "agent_instances"."status" else $1 end, "last_heartbeat_at" = now(), "last_read_message_id" = $2, "last_activity_at" = now() where "agent_instances"."id" = $3`

/**
 * The outbox statement postAgentMessage runs after a step (src/core/deliveries.ts), as text with
 * its parameters, captured from the function itself so the ceiling cannot drift from it.
 */
async function progressStatement() {
  let captured: SQL | null = null
  const capture = {
    execute: async (q: SQL) => {
      captured = q
      return []
    },
  } as unknown as Tx
  await enqueueProgress(capture, { ownerId: 'OWNER', instanceId: 'INSTANCE', messageId: 'MESSAGE' })
  const query = new PgDialect().sqlToQuery(captured!)
  return {
    text: query.sql,
    params: (v: Record<string, string>) => query.params.map((p) => v[p as string] ?? p),
  }
}

async function directSql(databaseUrl: string, db: Db): Promise<number> {
  // The row lock as core builds it (it also says whether anyone has a chat linked).
  const lock = lockInstance(db, 'INSTANCE').toSQL().sql
  const sql = postgres(databaseUrl, { max: POOL, onnotice: () => {}, connection: { TimeZone: 'UTC' } })
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
    const progress = await progressStatement()
    const step = (i: number) =>
      sql.begin(async (tx) => {
        const id = instances[i]!
        const [row] = await tx.unsafe(lock, [id], { prepare: true }).values()
        const [userId, , cursor, hasRecipients] = row as [string, string, string | null, boolean]
        const messageId = Bun.randomUUIDv7()
        // Issued together behind the row lock, as postAgentMessage does (one round trip).
        await Promise.all([
          cursor
            ? tx.unsafe(QUEUED, [id, 'USER', cursor], { prepare: true })
            : tx.unsafe(QUEUED_ALL, [id, 'USER'], { prepare: true }),
          tx.unsafe(
            INSERT,
            [
              messageId,
              id,
              userId,
              'AGENT',
              'Ran the tests: 412 passed, 0 failed.',
              false,
              null,
              null,
              null,
              null,
            ],
            { prepare: true },
          ),
          tx.unsafe(UPDATE, ['ACTIVE', messageId, id], { prepare: true }),
        ])
        // Core skips the outbox statement when nobody could receive a copy; so does the ceiling.
        if (hasRecipients) {
          await tx.unsafe(
            progress.text,
            progress.params({ OWNER: userId, INSTANCE: id, MESSAGE: messageId }) as never[],
            { prepare: true },
          )
        }
      })
    await rate(AGENTS, 1, step)
    return await rate(AGENTS, SECONDS, step)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

export async function ingest(run: Running, databaseUrl: string): Promise<Section> {
  const http = await throughHttp(run)
  const ceiling = await directSql(databaseUrl, run.parley.core.db)
  const ratio = http / ceiling
  return {
    title: 'Ingest (POST /api/v1/messages/agent, 32 concurrent agents)',
    notes: [
      `${AGENTS} agents, each its own instance, posting back to back for ${SECONDS} s after a 1 s warm-up. ` +
        'Client and server share one process (and one JS thread) with Postgres on the same 2 cores.',
      `Ceiling: the same statements per message in one transaction (the row lock, then three pipelined; the outbox insert only when someone has a chat linked, as in core; here nobody has), prepared, from ${AGENTS} postgres.js loops ` +
        `over a ${POOL}-connection pool (the server's pool size), prepared statements, no HTTP and no ` +
        'NOTIFY (the server also publishes its events with pg_notify, coalesced into one NOTIFY per round trip).',
    ],
    rows: [
      { what: 'through HTTP', value: `${http.toFixed(0)} msg/s` },
      { what: 'ceiling (direct SQL)', value: `${ceiling.toFixed(0)} msg/s` },
      { what: 'HTTP / ceiling', value: `${(ratio * 100).toFixed(0)} %`, target: '>= 40 %', ok: ratio >= 0.4 },
    ],
    failures: [],
  }
}
