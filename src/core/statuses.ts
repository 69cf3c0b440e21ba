// Which instance statuses count as "live" (an agent still working or waiting) and which as
// "ended" (nothing more will happen), defined once: TS checks and SQL fragments are both built
// from these lists, so a bot, the inbox and the database never disagree about a status.
import { type SQL, sql } from 'drizzle-orm'
import type { InstanceStatus } from '../db/schema.ts'

/** An agent is working or waiting for an answer: it counts for presence and for "active agents". */
export const LIVE_STATUSES = ['ACTIVE', 'AWAITING_INPUT'] as const satisfies readonly InstanceStatus[]

/** The session is over: no more messages are expected (a soft-deleted instance is over too). */
export const ENDED_STATUSES = [
  'COMPLETED',
  'FAILED',
  'KILLED',
  'DELETED',
] as const satisfies readonly InstanceStatus[]

export const isLive = (status: string): boolean => (LIVE_STATUSES as readonly string[]).includes(status)
export const hasEnded = (status: string): boolean => (ENDED_STATUSES as readonly string[]).includes(status)

const inList = (column: SQL | string, list: readonly string[]): SQL =>
  sql`${typeof column === 'string' ? sql.raw(column) : column} in (${sql.join(
    list.map((s) => sql.raw(`'${s}'`)),
    sql`, `,
  )})`

/** SQL: the status column (an expression or a qualified name such as `i.status`) is live. */
export const liveSql = (column: SQL | string): SQL => inList(column, LIVE_STATUSES)

/** SQL: the status column has ended. */
export const endedSql = (column: SQL | string): SQL => inList(column, ENDED_STATUSES)
