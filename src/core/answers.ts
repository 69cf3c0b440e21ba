// A question gets answered: the one path every channel takes (dashboard button and reply box, REST,
// MCP, Slack, Telegram, CLI, hooks). One transaction under the instance's row lock records the
// answer with who, via which channel and when, locks the copies on every channel through the
// outbox, and one `question.answered` event per question follows the commit. First answer wins
// (DESIGN.md "Answering"); what did not count comes back as data, so every channel tells the
// person the same thing. A question can also be closed without an answer (closeQuestion). How an
// answer reads is answer-wording.ts.
import { and, eq, isNull, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { resultRows, type Tx } from '../db/client.ts'
import { agentInstances, deliveries, instanceAccess, messages, users } from '../db/schema.ts'
import { type AppError, Forbidden, InvalidInput, NotFound } from '../errors.ts'
import { type BusEvent, publishAll } from '../events/bus.ts'
import { CLOSED_AT_TERMINAL, CLOSED_VIA, TIMED_OUT } from './answer-wording.ts'
import { type Core, newMessageIdAfter } from './context.ts'
import { deliveryEvents, enqueueLocks, hasCopies } from './deliveries.ts'
import { openQuestionSql } from './open-questions.ts'
import { parseQuestion } from './questions.ts'
import { statusAfterSql } from './statuses.ts'
import { unstorableText } from './storable.ts'
import { type MessageRow, UUID_RE } from './wire.ts'

export type AnswerInput = {
  /** The person answering (owner, or a user the instance is shared with for WRITE). */
  actorUserId: string
  /** Where it came from: web, api, slack, telegram, cli, mcp, hook … (stored as answered_via). */
  channel: string
  /**
   * A button carries the option's index: the answer is exactly that option's text, and a press on
   * a question that is no longer open writes nothing. Text is kept as a message in every case.
   * `messageId` names a user message already written (a reply that was queued before the agent
   * asked): it answers without writing anything new.
   */
  answer: { text: string } | { option: number } | { messageId: string }
  /** Move the agent's read cursor onto the new message (Omnara's mark_as_read). */
  markAsRead?: boolean
  /** People may answer on WRITE-shared instances; an agent's REST call must own the instance. */
  allowShared?: boolean
} & (
  | {
      instanceId: string /** Answer this question only; without it, every open one before. */
      questionId?: string
    }
  | { instanceId?: string; questionId: string }
)

/** Who answered a question first, for telling a late answerer and for the copies. */
export type FirstAnswer = {
  /** Display name or email; null when unknown. */
  by: string | null
  via: string | null
  /** ISO time it was answered (or closed). */
  at: string | null
  /** The answer's text; null for a question closed without one. */
  answer: string | null
  /** Why a closed question was closed. */
  reason: string | null
}

type Written = {
  instanceId: string
  ownerId: string
  /** The message written for this answer; null when nothing was written (a late button press). */
  messageId: string | null
  /** The answer's text. */
  answer: string
}

export type RefusalCode = 'NOT_FOUND' | 'FORBIDDEN' | 'INVALID'

export type AnswerOutcome =
  /** Recorded; `answered` lists the questions it answered (none for a message when none was open). */
  | ({ status: 'answered'; answered: string[] } & Written)
  /** Someone answered first. */
  | ({ status: 'already'; first: FirstAnswer } & Written)
  /** Closed without an answer, or timed out, before this came. */
  | ({ status: 'closed'; first: FirstAnswer } & Written)
  /** Not this person's to answer (or no such question or option): nothing was written. */
  | { status: 'refused'; code: RefusalCode; message: string; field?: string }

type Refused = Extract<AnswerOutcome, { status: 'refused' }>

const refused = (code: RefusalCode, message: string, field?: string): Refused => ({
  status: 'refused',
  code,
  message,
  ...(field ? { field } : {}),
})

/** For HTTP callers: the error a refusal becomes at the edge. */
export function refusalError(r: Refused): AppError {
  if (r.code === 'FORBIDDEN') return new Forbidden(r.message)
  if (r.code === 'INVALID') return new InvalidInput(r.field ?? 'content', r.message)
  return new NotFound(r.message)
}

const answerer = alias(users, 'answerer')
const first = alias(messages, 'first_answer')

/** A question with what the first answer (if any) was, read under the instance lock. */
async function questionRow(tx: Tx, questionId: string, instanceId: string) {
  const [q] = await tx
    .select({
      id: messages.id,
      content: messages.content,
      options: messages.options,
      answeredAt: messages.answeredAt,
      via: messages.answeredVia,
      metadata: messages.metadata,
      open: sql<boolean>`${openQuestionSql()}`,
      by: sql<string | null>`coalesce(${answerer.displayName}, ${answerer.email})`,
      answer: first.content,
    })
    .from(messages)
    .leftJoin(answerer, eq(answerer.id, messages.answeredBy))
    .leftJoin(first, eq(first.id, messages.answerMessageId))
    .where(
      and(
        eq(messages.id, questionId),
        eq(messages.instanceId, instanceId),
        eq(messages.sender, 'AGENT'),
        eq(messages.requiresUserInput, true),
      ),
    )
  return q ?? null
}

type QuestionRow = NonNullable<Awaited<ReturnType<typeof questionRow>>>

const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString())

/** Null while the question is open; otherwise who answered it (or how it was closed). */
function firstAnswer(q: QuestionRow): { status: 'already' | 'closed'; first: FirstAnswer } | null {
  if (q.open) return null
  if (q.answeredAt) {
    const closed = q.via === CLOSED_VIA
    const reason = (q.metadata as { closed_reason?: unknown } | null)?.closed_reason
    return {
      status: closed ? 'closed' : 'already',
      first: {
        by: closed ? null : q.by,
        via: q.via,
        at: iso(q.answeredAt),
        answer: q.answer,
        reason: closed && typeof reason === 'string' ? reason : null,
      },
    }
  }
  return {
    status: 'closed',
    first: { by: null, via: CLOSED_VIA, at: null, answer: null, reason: TIMED_OUT },
  }
}

/** Locks the instance row; refuses people who may not write to it. */
async function lockForActor(tx: Tx, instanceId: string, input: AnswerInput) {
  const [inst] = await tx
    .select({ userId: agentInstances.userId, cursor: agentInstances.lastReadMessageId })
    .from(agentInstances)
    .where(eq(agentInstances.id, instanceId))
    .for('update')
  if (!inst) return refused('NOT_FOUND', notFoundText(input))
  if (inst.userId === input.actorUserId) return inst
  if (input.allowShared) {
    const [access] = await tx
      .select({ access: instanceAccess.access })
      .from(instanceAccess)
      .where(and(eq(instanceAccess.instanceId, instanceId), eq(instanceAccess.userId, input.actorUserId)))
    if (access?.access === 'WRITE') return inst
    if (access) return refused('FORBIDDEN', 'You can read this agent instance but not reply to it')
  }
  return refused('NOT_FOUND', notFoundText(input))
}

const notFoundText = (input: AnswerInput) =>
  input.questionId
    ? 'You cannot answer this question: it is not yours, or it is gone.'
    : 'Agent instance not found'

/** The instance a question belongs to (read before taking the lock; checked again under it). */
async function instanceOfQuestion(core: Core, questionId: string): Promise<string | null> {
  // Ids from chat buttons are untrusted text too: one that is no UUID names no question.
  if (!UUID_RE.test(questionId)) return null
  const [q] = await core.db
    .select({ instanceId: messages.instanceId })
    .from(messages)
    .where(and(eq(messages.id, questionId), eq(messages.sender, 'AGENT')))
  return q?.instanceId ?? null
}

/** The answer's text and author: a new message, or a user message already written. */
async function answerSource(tx: Tx, input: AnswerInput, instanceId: string, q: QuestionRow | null) {
  const a = input.answer
  if ('text' in a) return { text: a.text, existing: null }
  if ('option' in a) {
    const option = q ? (q.options ?? parseQuestion(q.content).options)?.[a.option] : undefined
    return option === undefined ? null : { text: option, existing: null }
  }
  const [m] = await tx
    .select({ content: messages.content, by: messages.senderUserId, channel: messages.channel })
    .from(messages)
    .where(
      and(eq(messages.id, a.messageId), eq(messages.instanceId, instanceId), eq(messages.sender, 'USER')),
    )
  return m ? { text: m.content, existing: { id: a.messageId, by: m.by, channel: m.channel } } : null
}

type TxResult = { outcome: AnswerOutcome; events: BusEvent[] }

async function answerInTx(tx: Tx, input: AnswerInput, instanceId: string): Promise<TxResult> {
  const inst = await lockForActor(tx, instanceId, input)
  if ('status' in inst) return { outcome: inst, events: [] }
  const q = input.questionId ? await questionRow(tx, input.questionId, instanceId) : null
  if (input.questionId && !q) return { outcome: refused('NOT_FOUND', notFoundText(input)), events: [] }
  const source = await answerSource(tx, input, instanceId, q)
  if (!source) {
    const field = 'option' in input.answer ? 'option' : 'message_id'
    return { outcome: refused('INVALID', 'That option does not exist.', field), events: [] }
  }
  const late = q ? firstAnswer(q) : null
  const base = { instanceId, ownerId: inst.userId, answer: source.text }
  // A button on a question that is no longer open would reach the agent as a second,
  // contradicting instruction: nothing is written. Typed words are kept as a message.
  if (late && !('text' in input.answer)) {
    return { outcome: { ...late, ...base, messageId: source.existing?.id ?? null }, events: [] }
  }

  // The id is made under the lock, after the read cursor: an agent message that took the lock
  // first has moved the cursor, and a reply ordered behind it would never reach the agent.
  const id = source.existing?.id ?? newMessageIdAfter(inst.cursor)
  const by = source.existing ? (source.existing.by ?? inst.userId) : input.actorUserId
  const via = source.existing ? (source.existing.channel ?? input.channel) : input.channel
  // Independent statements behind the row lock: issued together, they share one round trip.
  const [inserted, answered, [row]] = await Promise.all([
    source.existing
      ? null
      : tx
          .insert(messages)
          .values({
            id,
            instanceId,
            userId: inst.userId,
            sender: 'USER',
            senderUserId: input.actorUserId,
            content: source.text,
            channel: input.channel,
            metadata: 'option' in input.answer ? { option: input.answer.option } : null,
          })
          .returning({ createdAt: messages.createdAt }),
    late
      ? []
      : tx
          .update(messages)
          .set({ answeredAt: sql`now()`, answerMessageId: id, answeredVia: via, answeredBy: by })
          .where(
            and(
              eq(messages.instanceId, instanceId),
              openQuestionSql(),
              sql`${messages.id} < ${id}`,
              input.questionId ? eq(messages.id, input.questionId) : undefined,
            ),
          )
          .returning({ id: messages.id, metadata: messages.metadata, hasCopies: hasCopies() }),
    source.existing
      ? [null]
      : tx
          .update(agentInstances)
          .set({
            status: statusAfterSql(agentInstances.status, 'user-message'),
            lastActivityAt: sql`now()`,
            ...(input.markAsRead ? { lastReadMessageId: id } : {}),
          })
          .where(eq(agentInstances.id, instanceId))
          .returning({ status: agentInstances.status }),
  ])
  const channels = await queueAfterAnswer(
    tx,
    { ownerId: inst.userId, instanceId, answerId: id, by },
    answered,
  )
  const userId = inst.userId
  // The new message rides on its events: the agent they wake needs no read (pending.ts).
  const createdAt = inserted?.[0]?.createdAt
  const message: MessageRow | undefined = createdAt
    ? { id, content: source.text, sender: 'USER', createdAt, requiresUserInput: false }
    : undefined
  const events: BusEvent[] = [
    ...(message
      ? [
          {
            type: 'message.created',
            userId,
            instanceId,
            messageId: id,
            sender: 'USER',
            question: false,
            message,
          } as const,
        ]
      : []),
    ...answered.map(
      (a) =>
        ({
          type: 'question.answered',
          userId,
          instanceId,
          questionId: a.id,
          answerId: id,
          answer: message,
        }) as const,
    ),
    ...(row ? [{ type: 'instance.updated', userId, instanceId, status: row.status } as const] : []),
    ...deliveryEvents(channels),
  ]
  const written = { ...base, messageId: id }
  if (late) return { outcome: { ...late, ...written }, events }
  if (input.questionId && answered.length === 0) {
    // Lost the race to an answer in flight elsewhere; with the lock held this cannot happen, but
    // the question row says what happened either way.
    const now = await questionRow(tx, input.questionId, instanceId)
    const lost = now ? firstAnswer(now) : null
    if (lost) return { outcome: { ...lost, ...written }, events }
  }
  return { outcome: { status: 'answered', answered: answered.map((a) => a.id), ...written }, events }
}

export type QuestionToAnswer =
  | { status: 'open'; instanceId: string; question: string; options: string[] | null }
  | { status: 'already' | 'closed'; first: FirstAnswer }
  | Refused

/**
 * A question as the person about to answer it sees it (a chat's reply form opens only while it is
 * open): the same checks answerQuestion makes, nothing written.
 */
export async function questionToAnswer(
  core: Core,
  actorUserId: string,
  questionId: string,
): Promise<QuestionToAnswer> {
  const input: AnswerInput = { actorUserId, questionId, channel: '', answer: { text: '' }, allowShared: true }
  const instanceId = await instanceOfQuestion(core, questionId)
  if (!instanceId) return refused('NOT_FOUND', notFoundText(input))
  return core.db.transaction(async (tx): Promise<QuestionToAnswer> => {
    const inst = await lockForActor(tx, instanceId, input)
    if ('status' in inst) return inst
    const q = await questionRow(tx, questionId, instanceId)
    if (!q) return refused('NOT_FOUND', notFoundText(input))
    const parsed = parseQuestion(q.content, q.options)
    return firstAnswer(q) ?? { status: 'open', instanceId, question: parsed.text, options: parsed.options }
  })
}

/** Outbox rows an answer causes: the n8n resume webhooks, and a lock job per sent copy. */
async function queueAfterAnswer(
  tx: Tx,
  a: { ownerId: string; instanceId: string; answerId: string; by: string },
  answered: { id: string; metadata: unknown; hasCopies: boolean }[],
): Promise<string[]> {
  const hooks = answered.flatMap((q) => {
    const url = (q.metadata as { webhook_url?: unknown } | null)?.webhook_url
    return typeof url === 'string' && url ? [{ questionId: q.id, url }] : []
  })
  if (hooks.length > 0) {
    await tx
      .insert(deliveries)
      .values(
        hooks.map((h) => ({
          userId: a.ownerId,
          messageId: h.questionId,
          instanceId: a.instanceId,
          channel: 'webhook',
          kind: 'webhook' as const,
          target: h.url,
          payload: { answerMessageId: a.answerId, actorUserId: a.by },
        })),
      )
      .onConflictDoNothing()
  }
  const channels = await enqueueLocks(
    tx,
    answered.filter((q) => q.hasCopies).map((q) => q.id),
  )
  if (hooks.length > 0) channels.push('webhook')
  return channels
}

/**
 * Answers a question, or posts a person's message that answers every open question before it.
 * One transaction; events after commit. Refusals and late answers are returned, never thrown.
 */
export async function answerQuestion(core: Core, input: AnswerInput): Promise<AnswerOutcome> {
  // Chat bots hand their text straight to core: what the database cannot store is refused here.
  const unstorable = 'text' in input.answer ? unstorableText(input.answer.text) : null
  if (unstorable) return refused('INVALID', `content: ${unstorable}`, 'content')
  const instanceId = input.instanceId ?? (await instanceOfQuestion(core, input.questionId!))
  if (!instanceId) return refused('NOT_FOUND', notFoundText(input))
  const { outcome, events } = await core.db.transaction((tx) => answerInTx(tx, input, instanceId))
  await publishAll(core.bus, events)
  return outcome
}

/**
 * Closes an open question without an answer (a hook request the agent gave up on: answered at the
 * terminal, or timed out). The copies are locked with the closed wording and `question.answered`
 * is published with `answerId: null`, so waiters and dashboards update. True when it closed it;
 * false when it was already answered or closed, or is not this owner's question.
 */
export async function closeQuestion(
  core: Core,
  input: { userId: string; questionId: string; reason?: string },
): Promise<boolean> {
  const instanceId = await instanceOfQuestion(core, input.questionId)
  if (!instanceId) return false
  const reason = input.reason ?? CLOSED_AT_TERMINAL
  const events = await core.db.transaction(async (tx) => {
    const [inst] = await tx
      .select({ userId: agentInstances.userId })
      .from(agentInstances)
      .where(eq(agentInstances.id, instanceId))
      .for('update')
    if (!inst || inst.userId !== input.userId) return null
    const closed = await tx
      .update(messages)
      .set({
        answeredAt: sql`now()`,
        answeredVia: CLOSED_VIA,
        metadata: sql`coalesce(${messages.metadata}, '{}'::jsonb) || ${JSON.stringify({ closed_reason: reason })}::jsonb`,
      })
      .where(
        and(
          eq(messages.id, input.questionId),
          eq(messages.instanceId, instanceId),
          eq(messages.requiresUserInput, true),
          isNull(messages.answeredAt),
        ),
      )
      .returning({ hasCopies: hasCopies() })
    if (closed.length === 0) return null
    const channels = closed[0]!.hasCopies ? await enqueueLocks(tx, [input.questionId]) : []
    // Waiting on nothing else: the instance is no longer waiting for input.
    const [row] = await tx
      .update(agentInstances)
      .set({
        status: sql`case when ${agentInstances.status} = 'AWAITING_INPUT' and not exists (
          select 1 from messages m where m.instance_id = ${instanceId} and ${openQuestionSql('m')})
          then 'ACTIVE' else ${agentInstances.status} end`,
      })
      .where(eq(agentInstances.id, instanceId))
      .returning({ status: agentInstances.status })
    const userId = inst.userId
    return [
      { type: 'question.answered', userId, instanceId, questionId: input.questionId, answerId: null },
      { type: 'instance.updated', userId, instanceId, status: row!.status },
      ...deliveryEvents(channels),
    ] satisfies BusEvent[]
  })
  if (!events) return false
  await publishAll(core.bus, events)
  return true
}

/**
 * Closes questions whose `timeout_seconds` passed with no answer and that have chat copies, with
 * the TIMED_OUT wording: their copies are edited to say so instead of keeping live buttons. A
 * question without copies needs nothing (the open-question rule already reads it as closed).
 * Several processes may sweep at once: closeQuestion closes each question once. Returns how many.
 */
export async function closeExpiredQuestions(core: Core, batch = 100): Promise<number> {
  const expired = resultRows<{ id: string; user_id: string }>(
    await core.db.execute(sql`
      select m.id, m.user_id from messages m
      where m.requires_user_input and m.answered_at is null and m.timeout_at is not null
        and m.timeout_at <= now() and m.sender = 'AGENT'
        and exists (select 1 from deliveries d where d.message_id = m.id and d.kind = 'question')
      order by m.timeout_at
      limit ${batch}`),
  )
  let closed = 0
  for (const q of expired) {
    if (await closeQuestion(core, { userId: q.user_id, questionId: q.id, reason: TIMED_OUT })) closed++
  }
  return closed
}

/** Milliseconds until the next open question with chat copies times out; null when none will. */
export async function msUntilNextTimeout(core: Core): Promise<number | null> {
  const [next] = resultRows<{ ms: number | string | null }>(
    await core.db.execute(sql`
      select extract(epoch from min(m.timeout_at) - now()) * 1000 as ms from messages m
      where m.requires_user_input and m.answered_at is null and m.timeout_at is not null
        and exists (select 1 from deliveries d where d.message_id = m.id and d.kind = 'question')`),
  )
  return next?.ms == null ? null : Number(next.ms)
}
