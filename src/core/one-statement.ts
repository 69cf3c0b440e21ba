// Writes on an instance made in one statement (one round trip): an agent message (messages.ts)
// and a typed answer (answers.ts) in the common case. Each locks the instance row and writes in
// one data-modifying CTE, or writes nothing and says why.
//
// Why the version check: a statement reads one snapshot, taken when it starts. If another write
// holds the instance row then, `for update` waits for it and locks the row's newest version, but
// every other read of the statement still sees the old snapshot: a reply committed meanwhile would
// be missed by the agent message (and the cursor moved past it for good), a question committed
// meanwhile would stay open behind the answer. Every transaction that writes a message updates
// the instance row (test/core/one-statement.test.ts holds them to it), so "the version locked is
// the version in the snapshot" (xmin) means nothing was committed unseen; otherwise the statement
// writes nothing and the caller runs it again, on a new snapshot. Its message id, made before the
// statement, must also come after the cursor and after every message of the instance (the order
// the agent reads in), or it is made again after the newest. A PL/pgSQL function would take a new
// snapshot per statement instead, but would keep a copy of the status rules and the outbox queries
// in a migration; this keeps them in one place, in TypeScript.
//
// A typed answer's statement also sends its NOTIFY on Postgres (pg_notify, delivered by Postgres
// at commit, so other processes still hear only committed changes), saving the round trip of a
// separate NOTIFY before the answer is acknowledged; this process's listeners get the events once
// the statement has returned. Values known only to the statement (the status it set, the channels
// it queued outbox rows for) are written into the payload in SQL. Agent messages leave theirs to
// the bus, which coalesces them (messages.ts says why).
import { type SQL, sql } from 'drizzle-orm'
import { type BusEvent, publishAll } from '../events/bus.ts'
import type { Core } from './context.ts'

/** How often a statement that found the row changed, or its id behind, is run again before the caller's transaction decides. */
export const ONE_STATEMENT_TRIES = 4

/**
 * The CTEs each statement starts with, for instance `instanceId`: `snap` (the row's version in
 * the snapshot), `locked` (the row locked: user_id, cursor, version) and `latest` (its newest
 * message id). Followed by the statement's own CTEs.
 */
/** The newest message of the instance `instance` (an id or a column expression). */
const newestMessage = (instance: SQL | string) =>
  sql`(select m.id from messages m where m.instance_id = ${instance} order by m.id desc limit 1)`

export const instanceCtes = (instanceId: SQL) => sql`
    snap as (select xmin::text as version from agent_instances where id = ${instanceId}),
    locked as (
      select user_id, last_read_message_id as cursor, xmin::text as version
      from agent_instances where id = ${instanceId} for update),
    latest as (select ${newestMessage(instanceId)} as id)`

/**
 * What a new message's id must come after, read with the instance row (by a transaction holding
 * its lock): the cursor and the instance's newest message, as `latest` above. A machine whose
 * clock is behind would otherwise order a reply before a message the agent has already read.
 * Spelled out: drizzle writes a select's columns unqualified, and "id" in the subquery would be m's.
 */
export const idFloorSql = sql<string | null>`greatest(agent_instances.last_read_message_id,
  ${newestMessage(sql.raw('agent_instances.id'))})`

/** The condition to write: over `locked l join snap s …, latest`, the row is unchanged and `id` comes last. */
export const unchangedAndLast = (id: SQL) =>
  sql`s.version = l.version and coalesce(greatest(l.cursor, latest.id) < ${id}::uuid, true)`

/** Columns the statement returns (`owner`, `latest`, `fresh`) to say why it wrote nothing; see instanceFrom. */
export const instanceState = sql`l.user_id as owner, greatest(l.cursor, (select id from latest)) as latest,
      s.version = l.version as fresh`

/** The final select's `from`: one row, with the instance's columns null when there is no such instance. */
export const instanceFrom = sql`from (select 1) one left join locked l on true left join snap s on true`

/** A value the statement fills into event `event` (its index) at `path`: a jsonb expression. */
export type EventFill = { event: number; path: string; value: SQL }

/** Postgres refuses a NOTIFY payload of 8000 bytes or more. */
const NOTIFY_LIMIT = 8000

/**
 * The body of a CTE that sends a notification (`note`: where its channel and payload are bound)
 * with `fills` applied and the jsonb array `appended` added, once per row of `from`, when the
 * payload fits (else the bus publishes after the commit: the statement returns
 * `(select count(*) from <this cte>)` to say which).
 */
export function notifyCte(
  note: { channel: SQL; payload: SQL },
  from: SQL,
  fills: EventFill[],
  appended?: SQL,
): SQL {
  const base = baseWithFills(note.payload, fills)
  const payload = appended ? sql`jsonb_set(p.p, '{e}', (p.p->'e') || ${appended})` : sql`p.p`
  return sql`
    select pg_notify(${note.channel}, n.t)
    from (select (${payload})::text as t from (select ${base} as p from ${from}) p) n
    where octet_length(n.t) < ${NOTIFY_LIMIT}`
}

function baseWithFills(payload: SQL, fills: EventFill[]): SQL {
  let p = sql`${payload}::jsonb`
  for (const f of fills) p = sql`jsonb_set(${p}, ${`{e,${f.event},${f.path}}`}::text[], ${f.value})`
  return p
}

/** After the statement: the events reach this process's listeners, and the others' unless it sent them. */
export async function deliverEvents(core: Core, events: BusEvent[], sentByStatement: boolean): Promise<void> {
  if (sentByStatement && core.bus.dispatchLocal) core.bus.dispatchLocal(events)
  else await publishAll(core.bus, events)
}
