// "An open question", defined once: an agent's message that asks for input, not yet answered (or
// closed), whose timeout has not passed. The SQL fragment and the TS predicate say the same thing,
// so the chat's open questions, the dashboard's reply buttons, answering, closing and the
// AWAITING_INPUT status never disagree about which questions are still open.
import { type SQL, sql } from 'drizzle-orm'

/** The columns of a message the rule reads (a row of `messages`, or a page's copy of it). */
export type QuestionState = {
  sender: string
  requiresUserInput: boolean
  answeredAt: Date | string | null
  timeoutAt: Date | string | null
}

/** Whether the message is a question still waiting for an answer at `now`. */
export function isOpenQuestion(m: QuestionState, now: Date = new Date()): boolean {
  if (m.sender !== 'AGENT' || !m.requiresUserInput || m.answeredAt) return false
  return m.timeoutAt === null || new Date(m.timeoutAt).getTime() > now.getTime()
}

/**
 * SQL: the row of `messages` named `table` (an alias such as `m`, or `messages` itself) is an open
 * question. `table` is a fixed name in the calling code, never input.
 */
export function openQuestionSql(table = 'messages'): SQL {
  const c = (name: string) => sql.raw(`${table}.${name}`)
  return sql`(${c('sender')} = 'AGENT' and ${c('requires_user_input')} and ${c('answered_at')} is null
    and (${c('timeout_at')} is null or ${c('timeout_at')} > now()))`
}
