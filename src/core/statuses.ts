// Which instance statuses count as "live" (an agent still working or waiting) and which as
// "ended" (nothing more will happen), and how a message or a session start moves a status, defined
// once: TS checks and SQL fragments are both built from these lists, so a bot, the inbox and the
// database never disagree about a status.
import { type SQL, type SQLWrapper, sql } from 'drizzle-orm'
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

const inList = (column: SQLWrapper | string, list: readonly string[]): SQL =>
  sql`${typeof column === 'string' ? sql.raw(column) : column} in (${sql.join(
    list.map((s) => sql.raw(`'${s}'`)),
    sql`, `,
  )})`

/** SQL: the status column (an expression or a qualified name such as `i.status`) is live. */
export const liveSql = (column: SQL | string): SQL => inList(column, LIVE_STATUSES)

/** SQL: the status column has ended. */
export const endedSql = (column: SQL | string): SQL => inList(column, ENDED_STATUSES)

/**
 * What happens to an instance that moves its status (DESIGN.md "Statuses"): an agent's message or
 * question, a person's message (from any channel, the terminal included), a session that starts or
 * resumes. Ending a session sets COMPLETED directly.
 */
export type StatusCause = 'agent-message' | 'agent-question' | 'user-message' | 'session-start'

/**
 * The one table of transitions: the status a cause moves an instance to, and the statuses it
 * leaves alone. DELETED stays deleted (a soft-deleted instance is not resurrected behind its
 * owner's back); an agent's message keeps COMPLETED as Omnara does, while a person's message or a
 * resumed session makes it ACTIVE again.
 */
const TRANSITIONS = {
  'agent-message': { to: 'ACTIVE', keeps: ['COMPLETED', 'DELETED'] },
  'agent-question': { to: 'AWAITING_INPUT', keeps: ['COMPLETED', 'DELETED'] },
  'user-message': { to: 'ACTIVE', keeps: ['DELETED'] },
  'session-start': { to: 'ACTIVE', keeps: ['DELETED'] },
} as const satisfies Record<StatusCause, { to: InstanceStatus; keeps: readonly InstanceStatus[] }>

/** The status an instance in `status` has after `cause`. */
export function statusAfter(status: InstanceStatus, cause: StatusCause): InstanceStatus {
  const t = TRANSITIONS[cause]
  return (t.keeps as readonly string[]).includes(status) ? status : t.to
}

/** The same rule in SQL, for `set status = …` on the status column (e.g. `agentInstances.status`). */
export function statusAfterSql(column: SQLWrapper | string, cause: StatusCause): SQL {
  const t = TRANSITIONS[cause]
  const col = typeof column === 'string' ? sql.raw(column) : column
  return sql`case when ${inList(col, t.keeps)} then ${col} else ${sql.raw(`'${t.to}'`)} end`
}
