// A hook that needs a person (an approval, one of AskUserQuestion's questions) asks a question
// and holds the agent's request until it is answered, woken by the event bus. If the agent gives
// up first (its hook timed out, or the person answered at the terminal) or Parley's own deadline
// passes, the question is closed, so no copy keeps offering buttons nobody is waiting for.
// If Parley itself stops while a request waits (a rolling restart), the question stays open and
// is marked interrupted; the request is answered 503, and the same question sent again (to
// another machine) takes that question back, with any answer given meanwhile. An agent that does
// not send it again (an HTTP hook asks at its terminal on a 503) leaves a question that times out
// by itself after INTERRUPTED_GRACE_S, with no process left to close it.
import { and, eq, sql } from 'drizzle-orm'
import { resultRows } from '../../db/client.ts'
import { messages, users } from '../../db/schema.ts'
import { Unavailable } from '../../errors.ts'
import { closeQuestion } from '../answers.ts'
import { answerPath, type Core, MAX_CONTENT_CHARS } from '../context.ts'
import { postAgentMessage } from '../messages.ts'
import { openQuestionSql } from '../open-questions.ts'
import { answerOf, waitForAnswer } from '../pending.ts'
import { holdPresence } from '../presence.ts'
import type { HookSession } from './session.ts'

/** What a hook question records about itself (messages.metadata.hook). */
export type HookQuestionMeta = {
  agent: string
  event: string
  kind: 'approval' | 'ask'
  tool: string
  summary: string
}

/** An answer as a hook reads it; `pressed` when it came from a button, not typed words. */
export type HookAnswer = { content: string; by: string | null; via: string | null; pressed: boolean }

/**
 * How long a hook request may wait for a person: Parley's deadline, and the agent still there
 * (`signal`). `restarting` aborts when this process stops: the wait ends, the question stays.
 */
export type Hold = { deadline: number; signal: AbortSignal; restarting?: AbortSignal }

/**
 * Posts a hook agent's message: a question when it has options (buttons), else progress. Like
 * every hook post it leaves the read cursor alone: user messages reach the agent at Stop.
 */
export async function postHookMessage(
  core: Core,
  s: HookSession,
  m: { content: string; options?: string[]; meta?: HookQuestionMeta },
): Promise<string> {
  const posted = await postAgentMessage(core, {
    userId: s.userId,
    instanceId: s.instanceId,
    agentType: s.agent,
    content: m.content.slice(0, MAX_CONTENT_CHARS),
    requiresUserInput: m.options !== undefined,
    options: m.options ?? null,
    metadata: m.meta ? { hook: m.meta } : null,
    keepCursor: true,
  })
  return posted.messageId
}

/**
 * Asks a hook question, or takes back the same question of this session that a stopping process
 * left interrupted (the agent sent its request again): once, whether answered meanwhile or not,
 * and only within INTERRUPTED_GRACE_S, so an old answer never decides a later, identical request.
 */
export async function askHookQuestion(
  core: Core,
  s: HookSession,
  m: { content: string; options: string[]; meta: HookQuestionMeta },
): Promise<string> {
  const content = m.content.slice(0, MAX_CONTENT_CHARS)
  const [resumed] = resultRows<{ id: string }>(
    await core.db.execute(sql`
      update messages set metadata = metadata #- '{hook,interrupted}',
        timeout_at = case when answered_at is null then null else timeout_at end
      where id = (
        select id from messages
        where instance_id = ${s.instanceId} and sender = 'AGENT' and content = ${content}
          and metadata -> 'hook' ->> 'interrupted' = 'true' and timeout_at > now()
        order by id desc limit 1 for update skip locked)
      returning id`),
  )
  return resumed?.id ?? postHookMessage(core, s, { ...m, content })
}

/** How long an interrupted question waits for its agent to send the request again. */
export const INTERRUPTED_GRACE_S = 60

async function markInterrupted(core: Core, questionId: string): Promise<void> {
  await core.db.execute(sql`
    update messages set metadata = jsonb_set(metadata, '{hook,interrupted}', 'true'),
      timeout_at = now() + make_interval(secs => ${INTERRUPTED_GRACE_S})
    where id = ${questionId} and metadata ? 'hook' and answered_at is null`)
}

/** Who gave an answer (core/pending.ts finds it), where, and whether by a button. */
async function hookAnswer(core: Core, answerId: string): Promise<HookAnswer | null> {
  const [row] = await answerPath(core)
    .select({
      content: messages.content,
      by: sql<string | null>`coalesce(${users.displayName}, ${users.email})`,
      via: messages.channel,
      metadata: messages.metadata,
    })
    .from(messages)
    .leftJoin(users, eq(users.id, messages.senderUserId))
    .where(eq(messages.id, answerId))
  if (!row) return null
  const pressed = typeof (row.metadata as { option?: unknown } | null)?.option === 'number'
  return { content: row.content, by: row.by, via: row.via, pressed }
}

/**
 * Waits for the answer until `deadline` or `signal`. Without one the question is closed and null
 * returned. An answer that lands while closing at Parley's deadline wins, and is returned; once the
 * agent has hung up (`signal`) nobody can receive one, so the question is closed and null returned.
 */
export async function awaitHookAnswer(
  core: Core,
  s: HookSession,
  questionId: string,
  opts: Hold,
): Promise<HookAnswer | null> {
  // A held hook is the agent's sign of life: its instance does not turn DISCONNECTED meanwhile.
  const release = holdPresence(core, s.userId, s.instanceId)
  // Returns null at once when the question is closed elsewhere (the session ended).
  const found = await waitForAnswer(core, {
    userId: s.userId,
    instanceId: s.instanceId,
    questionId,
    deadline: opts.deadline,
    signal: opts.signal,
  }).finally(release)
  if (opts.signal.aborted && opts.restarting?.aborted && !found) {
    await markInterrupted(core, questionId)
    throw new Unavailable('Parley is restarting; send the request again to get the answer', 1)
  }
  if (opts.signal.aborted) {
    await closeQuestion(core, { userId: s.userId, questionId })
    return null
  }
  if (found) return hookAnswer(core, found.answer.id)
  if (await closeQuestion(core, { userId: s.userId, questionId })) return null
  const late = await answerOf(core, s.userId, questionId)
  return late && late !== 'closed' ? hookAnswer(core, late.answer.id) : null
}

/** Stop and SessionEnd: nobody waits for the session's open hook questions any more. */
export async function closeOpenQuestions(core: Core, s: HookSession): Promise<void> {
  const open = await openQuestions(core, s)
  for (const { id } of open) await closeQuestion(core, { userId: s.userId, questionId: id })
}

const openQuestions = (core: Core, s: HookSession) =>
  core.db
    .select({ id: messages.id })
    .from(messages)
    .where(
      and(
        eq(messages.instanceId, s.instanceId),
        openQuestionSql(),
        sql`${messages.metadata} -> 'hook' is not null`,
      ),
    )

/** Whether the session has a question nobody has answered yet. */
export async function hasOpenQuestion(core: Core, s: HookSession): Promise<boolean> {
  return (await openQuestions(core, s).limit(1)).length > 0
}
