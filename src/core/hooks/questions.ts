// A hook that needs a person (an approval, one of AskUserQuestion's questions) asks a question
// and holds the agent's request until it is answered, woken by the event bus. If the agent gives
// up first (its hook timed out, or the person answered at the terminal) or Parley's own deadline
// passes, the question is closed, so no copy keeps offering buttons nobody is waiting for.
import { and, eq, isNull, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { agentInstances, messages, users } from '../../db/schema.ts'
import { publishAll } from '../../events/bus.ts'
import type { Core } from '../context.ts'
import { deliveryEvents, enqueueLocks, hasCopies } from '../deliveries.ts'
import { postAgentMessage } from '../messages.ts'
import { waitForAnswer } from '../pending.ts'
import type { HookSession } from './session.ts'

/** What a hook question records about itself (messages.metadata.hook). */
export type HookQuestionMeta = {
  agent: string
  event: string
  kind: 'approval' | 'ask'
  tool: string
  summary: string
}

export type HookAnswer = { content: string; by: string | null; via: string | null }

export const CLOSED_REASON = 'answered at the terminal or timed out'

export async function askHookQuestion(
  core: Core,
  s: HookSession,
  q: { content: string; options: string[]; meta: HookQuestionMeta },
): Promise<string> {
  const posted = await postAgentMessage(core, {
    userId: s.userId,
    instanceId: s.instanceId,
    agentType: s.agent,
    content: q.content,
    requiresUserInput: true,
    options: q.options,
    metadata: { hook: q.meta },
    keepCursor: true,
  })
  return posted.messageId
}

const answerRow = alias(messages, 'a')

/** Who answered a question and how (the answer row and the question's answered_* columns). */
async function answerOf(core: Core, questionId: string): Promise<HookAnswer | null> {
  const [row] = await core.db
    .select({
      content: answerRow.content,
      by: sql<string | null>`coalesce(${users.displayName}, ${users.email})`,
      via: messages.answeredVia,
    })
    .from(messages)
    .innerJoin(answerRow, eq(answerRow.id, messages.answerMessageId))
    .leftJoin(users, eq(users.id, messages.answeredBy))
    .where(eq(messages.id, questionId))
  return row ?? null
}

/**
 * Waits for the answer until `deadline` or `signal`. Without one the question is closed and null
 * returned; an answer that lands while closing wins, and is returned.
 */
export async function awaitHookAnswer(
  core: Core,
  s: HookSession,
  questionId: string,
  opts: { deadline: number; signal: AbortSignal },
): Promise<HookAnswer | null> {
  const found = await waitForAnswer(core, {
    userId: s.userId,
    instanceId: s.instanceId,
    questionId,
    deadline: opts.deadline,
    signal: opts.signal,
  })
  if (found) return answerOf(core, questionId)
  const closed = await closeHookQuestions(core, s, [questionId])
  return closed.length > 0 ? null : answerOf(core, questionId)
}

/**
 * Closes open questions of the session without an answer (all of them when `ids` is null):
 * answered_at set, answered_via 'closed', the reason kept in metadata, every sent copy edited.
 */
export async function closeHookQuestions(
  core: Core,
  s: HookSession,
  ids: string[] | null,
): Promise<string[]> {
  const result = await core.db.transaction(async (tx) => {
    const closed = await tx
      .update(messages)
      .set({
        answeredAt: sql`now()`,
        answeredVia: 'closed',
        metadata: sql`coalesce(${messages.metadata}, '{}'::jsonb) || ${JSON.stringify({ closed: CLOSED_REASON })}::jsonb`,
      })
      .where(
        and(
          eq(messages.instanceId, s.instanceId),
          eq(messages.requiresUserInput, true),
          isNull(messages.answeredAt),
          ids ? sql`${messages.id} in ${ids}` : undefined,
        ),
      )
      .returning({ id: messages.id, hasCopies: hasCopies() })
    if (closed.length === 0) return { closed: [], channels: [], status: null }
    const channels = await enqueueLocks(
      tx,
      closed.filter((c) => c.hasCopies).map((c) => c.id),
    )
    const [inst] = await tx
      .update(agentInstances)
      .set({
        status: sql`case when ${agentInstances.status} = 'AWAITING_INPUT' and not exists (
          select 1 from messages m where m.instance_id = ${agentInstances.id}
            and m.requires_user_input and m.answered_at is null) then 'ACTIVE' else ${agentInstances.status} end`,
      })
      .where(eq(agentInstances.id, s.instanceId))
      .returning({ status: agentInstances.status })
    return { closed: closed.map((c) => c.id), channels, status: inst?.status ?? null }
  })
  if (result.closed.length > 0) {
    const { userId, instanceId } = s
    await publishAll(core.bus, [
      ...(result.status
        ? [{ type: 'instance.updated' as const, userId, instanceId, status: result.status }]
        : []),
      ...deliveryEvents(result.channels),
    ])
  }
  return result.closed
}

/** Whether the session has a question nobody has answered yet. */
export async function hasOpenQuestion(core: Core, s: HookSession): Promise<boolean> {
  const [row] = await core.db
    .select({ id: messages.id })
    .from(messages)
    .where(
      and(
        eq(messages.instanceId, s.instanceId),
        eq(messages.requiresUserInput, true),
        isNull(messages.answeredAt),
      ),
    )
    .limit(1)
  return row !== undefined
}
