// Events of a write made in one statement. On Postgres the statement sends the NOTIFY itself
// (pg_notify, delivered by Postgres at commit, so other processes still hear only committed
// changes) and saves the round trip of a separate NOTIFY; this process's listeners get the events
// once the statement has returned. Values known only to the statement (the status it set, the
// channels it queued outbox rows for) are written into the payload in SQL.
import { type SQL, sql } from 'drizzle-orm'
import { type BusEvent, publishAll } from '../events/bus.ts'
import type { Core } from './context.ts'

/** A value the statement fills into event `event` (its index) at `field`: a jsonb expression. */
export type EventFill = { event: number; field: string; value: SQL }

/**
 * The `pg_notify(…)` call that sends `events` with `fills` applied and the jsonb array `appended`
 * added, or null when the bus publishes them itself after commit (see EventBus.notification).
 */
export function notifyCall(core: Core, events: BusEvent[], fills: EventFill[], appended?: SQL): SQL | null {
  const note = core.bus.notification?.(events)
  if (!note) return null
  let payload = sql`${note.payload}::jsonb`
  for (const f of fills)
    payload = sql`jsonb_set(${payload}, ${`{e,${f.event},${f.field}}`}::text[], ${f.value})`
  if (appended) {
    payload = sql`(select jsonb_set(x.p, '{e}', (x.p->'e') || ${appended}) from (select ${payload} as p) x)`
  }
  return sql`pg_notify(${note.channel}, (${payload})::text)`
}

/** After the statement: the events reach this process's listeners, and the others' when it did not send them. */
export async function deliverEvents(core: Core, events: BusEvent[], sentByStatement: boolean): Promise<void> {
  if (sentByStatement && core.bus.dispatchLocal) core.bus.dispatchLocal(events)
  else await publishAll(core.bus, events)
}
