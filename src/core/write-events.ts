// Events of a write made in one statement. On Postgres the statement sends the NOTIFY itself
// (pg_notify, delivered by Postgres at commit, so other processes still hear only committed
// changes) and saves the round trip of a separate NOTIFY; this process's listeners get the events
// once the statement has returned. Values known only to the statement (the status it set, the
// channels it queued outbox rows for) are written into the payload in SQL.
import { type SQL, sql } from 'drizzle-orm'
import { type BusEvent, publishAll } from '../events/bus.ts'
import type { Core } from './context.ts'

/** A value the statement fills into event `event` (its index) at `path`: a jsonb expression. */
export type EventFill = { event: number; path: string; value: SQL }

/** Postgres refuses a NOTIFY payload of 8000 bytes or more. */
const NOTIFY_LIMIT = 8000

/**
 * The body of a CTE that sends `events`, with `fills` applied and the jsonb array `appended`
 * added, once per row of `from`, when the payload fits (else the bus publishes after the commit:
 * the statement returns `(select count(*) from <this cte>)` to say which). Null when the bus
 * publishes them itself (see EventBus.notification).
 */
export function notifyCte(
  core: Core,
  events: BusEvent[],
  from: SQL,
  fills: EventFill[],
  appended?: SQL,
): SQL | null {
  const note = core.bus.notification?.(events)
  if (!note) return null
  const base = baseWithFills(note.payload, fills)
  const payload = appended ? sql`jsonb_set(p.p, '{e}', (p.p->'e') || ${appended})` : sql`p.p`
  return sql`
    select pg_notify(${note.channel}, n.t)
    from (select (${payload})::text as t from (select ${base} as p from ${from}) p) n
    where octet_length(n.t) < ${NOTIFY_LIMIT}`
}

function baseWithFills(payload: string, fills: EventFill[]): SQL {
  let p = sql`${payload}::jsonb`
  for (const f of fills) p = sql`jsonb_set(${p}, ${`{e,${f.event},${f.path}}`}::text[], ${f.value})`
  return p
}

/** After the statement: the events reach this process's listeners, and the others' unless it sent them. */
export async function deliverEvents(core: Core, events: BusEvent[], sentByStatement: boolean): Promise<void> {
  if (sentByStatement && core.bus.dispatchLocal) core.bus.dispatchLocal(events)
  else await publishAll(core.bus, events)
}
