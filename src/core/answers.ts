// A question gets answered: the one path every channel takes (dashboard button and reply box, REST,
// MCP, Slack, Telegram, CLI, hooks). One write under the instance's row lock records the
// answer with who, via which channel and when, locks the copies on every channel through the
// outbox, and one `question.answered` event per question follows the commit (typed words: one
// statement, one-statement.ts; buttons: a transaction). First answer wins
// (DESIGN.md "Answering"); what did not count comes back as data, so every channel tells the
// person the same thing. A question can also be closed without an answer (closeQuestion). How an
// answer reads is answer-wording.ts.
import { and, eq, isNull, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { resultRows, type Tx } from '../db/client.ts'
import { agentInstances, instanceAccess, messages, users } from '../db/schema.ts'
import { cachedStatement } from '../db/statements.ts'
import { type AppError, Forbidden, InvalidInput, NotFound } from '../errors.ts'
import { type BusEvent, publishAll } from '../events/bus.ts'
import { CLOSED_AT_TERMINAL, CLOSED_VIA, TIMED_OUT } from './answer-wording.ts'
import { answerPath, type Core, newMessageId, newMessageIdAfter } from './context.ts'
import {
  deliveryEvents,
  enqueueLocks,
  enqueueWebhooks,
  hasCopies,
  lockJobsSql,
  touchCopiesSql,
  webhookRowsSql,
} from './deliveries.ts'
import {
  deliverEvents,
  idFloorSql,
  instanceCtes,
  instanceFrom,
  instanceState,
  notifyCte,
  ONE_STATEMENT_TRIES,
  unchangedAndLast,
} from './one-statement.ts'
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
    .select({ userId: agentInstances.userId, idFloor: idFloorSql })
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

/** The instance a question belongs to, for the transaction (read before taking the lock; checked again under it). */
async function instanceOfQuestion(core: Core, questionId: string): Promise<string | null> {
  // Ids from chat buttons are untrusted text too: one that is no UUID names no question.
  if (!UUID_RE.test(questionId)) return null
  const [q] = await answerPath(core)
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

  // The id is made under the lock, after the read cursor and the newest message: an agent message
  // that took the lock first has moved the cursor, and a reply ordered behind it would never reach
  // the agent.
  const id = source.existing?.id ?? newMessageIdAfter(inst.idFloor)
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
      ? // Nothing new to show, but the row must change: a one-statement answer that read this
        // question as open before the lock trusts its snapshot only while the row is unchanged
        // (one-statement.ts).
        tx
          .update(agentInstances)
          .set({ lastActivityAt: sql`${agentInstances.lastActivityAt}` })
          .where(eq(agentInstances.id, instanceId))
          .then(() => [null])
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
  const withHooks = answered.filter((q) => (q.metadata as { webhook_url?: unknown } | null)?.webhook_url)
  const hooks = withHooks.length > 0 ? await enqueueWebhooks(tx, withHooks, a) : []
  const locks = await enqueueLocks(
    tx,
    answered.filter((q) => q.hasCopies).map((q) => q.id),
  )
  return [...locks, ...hooks]
}

/**
 * Answers a question, or posts a person's message that answers every open question before it.
 * Typed words and buttons take one statement, also when only the question is named (a chat's
 * button or reply: the statement finds the instance by it); a reply already written, or a button
 * of a question without stored options, takes one transaction. Refusals and late answers are
 * returned, never thrown.
 */
export async function answerQuestion(core: Core, input: AnswerInput): Promise<AnswerOutcome> {
  // Chat bots hand their text straight to core: what the database cannot store is refused here.
  const unstorable = 'text' in input.answer ? unstorableText(input.answer.text) : null
  if (unstorable) return refused('INVALID', `content: ${unstorable}`, 'content')
  // A chat button or reply names only its question: the statement finds the instance by it.
  if (!input.instanceId && !UUID_RE.test(input.questionId!)) return refused('NOT_FOUND', notFoundText(input))
  // Typed words, and a button of a question whose options are stored; the rest takes the transaction.
  const answer = input.answer
  // The statement reads the index as an int; a larger one names no option, which the transaction
  // refuses like any other.
  const button =
    'option' in answer &&
    input.questionId &&
    Number.isInteger(answer.option) &&
    answer.option >= 0 &&
    answer.option <= 0x7fffffff
  if ('text' in answer || button) {
    let id = newMessageId()
    for (let attempt = 0; attempt < ONE_STATEMENT_TRIES; attempt++) {
      const done = await answerInOneStatement(core, input, answer, id)
      if (done.outcome === 'done') return done.result
      if (done.outcome === 'id-behind') id = newMessageIdAfter(done.latest)
      else if (done.outcome === 'no-options') break
    }
  }
  const instanceId = input.instanceId ?? (await instanceOfQuestion(core, input.questionId!))
  if (!instanceId) return refused('NOT_FOUND', notFoundText(input))
  const { outcome, events } = await core.db.transaction((tx) => answerInTx(tx, input, instanceId))
  await publishAll(core.bus, events)
  return outcome
}

type OneStatement =
  | { outcome: 'done'; result: AnswerOutcome }
  | { outcome: 'id-behind'; latest: string }
  | { outcome: 'changed' | 'no-options' }

/** What selects the text of the answer's statement; everything else is a bound value. */
type AnswerShape = {
  button: boolean
  shared: boolean
  markAsRead: boolean
  notify: boolean
  /** The caller named the question only (a chat button or reply): its row names the instance. */
  byQuestion: boolean
}

type AnswerValues = {
  id: string
  /** Null when the shape is byQuestion. */
  instanceId: string | null
  actor: string
  questionId: string | null
  /** Typed words; a button's text is read from the question's options. */
  text: string | null
  option: number | null
  /** The message's metadata: the option pressed. */
  optionJson: string | null
  channel: string
  notifyChannel: string | null
  notifyPayload: string | null
}

type AnswerRow = {
  instance: string | null
  owner: string | null
  access: string | null
  question: string | null
  text: string | null
  latest: string | null
  fresh: boolean | null
  createdAt: string | null
  status: string | null
  answered: string | null
  channels: string | null
  notified: number | string
}

/** The answer's statement (answerInOneStatement), built once per shape. */
const answerStatement = cachedStatement<AnswerShape, AnswerValues>((s, v) => {
  // A button's text is the option's, read in the statement; a button on a closed question writes nothing.
  const text = s.button ? sql`(select q.options->>${v.option}::int from q)` : sql`${v.text}::text`
  const writes = s.button ? sql`exists (select 1 from q where q.open)` : sql`true`
  const owner = sql`to_jsonb(ok.owner::text)`
  // The instance, as the caller named it or as its question's row does (an id, immutable).
  const inst = s.byQuestion
    ? sql`(select mq.instance_id from messages mq where mq.id = ${v.questionId}::uuid and mq.sender = 'AGENT')`
    : sql`${v.instanceId}::uuid`
  // The events' NOTIFY, when the bus lets the statement send it (EventBus.notification).
  const notify = s.notify
    ? notifyCte(
        { channel: v.notifyChannel, payload: v.notifyPayload },
        sql`ok, inserted i, updated u`,
        [
          { event: 0, path: 'userId', value: owner },
          { event: 0, path: 'message,createdAt', value: sql`to_jsonb(i.created_at)` },
          { event: 0, path: 'message,content', value: sql`to_jsonb(i.content)` },
          { event: 1, path: 'userId', value: owner },
          { event: 1, path: 'status', value: sql`to_jsonb(u.status)` },
          ...(s.byQuestion
            ? [0, 1].map((event) => ({ event, path: 'instanceId', value: sql`to_jsonb(${inst}::text)` }))
            : []),
        ],
        sql`(select coalesce(jsonb_agg(e), '[]') from (
      select jsonb_build_object('type', 'question.answered', 'userId', p.p->'e'->0->'userId',
        'instanceId', ${inst}::text, 'questionId', a.id, 'answerId', ${v.id}::text)
        || case when p.p->'e'->0->'message' is null then '{}'
          else jsonb_build_object('answer', p.p->'e'->0->'message') end as e
      from answered a
      union all
      select jsonb_build_object('type', 'delivery.queued', 'channel', c.channel)
      from (select distinct channel from (select channel from locks union select channel from hooks) c) c) x)`,
      )
    : sql`select 1 where false`
  return sql`
    with ${instanceCtes(inst)},
    shared as (
      select access from instance_access
      where ${s.shared ? sql`instance_id = ${inst} and user_id = ${v.actor}` : sql`false`}),
    q as (
      select m.id, m.content, m.options, m.answered_at as "answeredAt", m.answered_via as via, m.metadata,
        ${openQuestionSql('m')} as open, coalesce(u.display_name, u.email) as by, f.content as answer
      from messages m
      left join users u on u.id = m.answered_by
      left join messages f on f.id = m.answer_message_id
      where m.id = ${v.questionId}::uuid and m.instance_id = ${inst} and m.sender = 'AGENT'
        and m.requires_user_input),
    ok as (
      select l.user_id as owner from locked l, snap s, latest
      where (l.user_id = ${v.actor} or exists (select 1 from shared where access = 'WRITE'))
        and (${v.questionId}::uuid is null or exists (select 1 from q)) and ${text} is not null and ${writes}
        and ${unchangedAndLast(v.id)}),
    inserted as (
      insert into messages (id, instance_id, user_id, sender, sender_user_id, content, channel, metadata)
      select ${v.id}::uuid, ${inst}, ok.owner, 'USER', ${v.actor}::uuid, ${text},
        ${v.channel}::text, ${v.optionJson}::jsonb
      from ok
      returning created_at::text, content),
    answered as (
      update messages m set answered_at = now(), answer_message_id = ${v.id}::uuid,
        answered_via = ${v.channel}::text, answered_by = ${v.actor}::uuid
      from ok
      where m.instance_id = ${inst} and ${openQuestionSql('m')} and m.id < ${v.id}::uuid
        and (${v.questionId}::uuid is null or m.id = ${v.questionId}::uuid)
      returning m.id, m.metadata),
    updated as (
      update agent_instances set status = ${statusAfterSql('agent_instances.status', 'user-message')},
        last_activity_at = now()
        ${s.markAsRead ? sql`, last_read_message_id = ${v.id}::uuid` : sql``}
      from ok where agent_instances.id = ${inst}
      returning agent_instances.status),
    hooks as (
      ${webhookRowsSql(sql`select * from answered`, { ownerId: sql`(select owner from ok)`, instanceId: inst, answerId: v.id, by: v.actor })}
      returning channel),
    copies as (${touchCopiesSql(sql`select id from answered`)}),
    locks as (${lockJobsSql('copies')} returning channel),
    notified as (${notify})
    select ${instanceState}, ${inst}::text as instance,
      (select access from shared) as access,
      (select row_to_json(q)::text from q) as question, ${text} as text,
      (select created_at from inserted) as "createdAt", (select status from updated) as status,
      (select json_agg(a.id order by a.id)::text from answered a) as answered,
      (select json_agg(distinct c.channel)::text from (select channel from locks union select channel from hooks) c)
        as channels,
      (select count(*) from notified) as notified
    ${instanceFrom}`
})

/**
 * A typed answer or a button in one statement, one round trip: what answerInTx does for them, with
 * the same refusals and late outcomes, the outbox rows and the NOTIFY. See one-statement.ts for
 * why it can write nothing, and what then. A button names an option by its index: its text is read
 * from the question's stored options ('no-options' when there are none stored).
 */
async function answerInOneStatement(
  core: Core,
  input: AnswerInput,
  answer: { text: string } | { option: number },
  id: string,
): Promise<OneStatement> {
  const actor = input.actorUserId
  const qid = input.questionId ?? null
  const option = 'option' in answer ? answer.option : null
  const content = 'text' in answer ? answer.text : ''
  const message: MessageRow = { id, content, sender: 'USER', createdAt: '', requiresUserInput: false }
  // By question only, the statement writes the instance id in, as it does the owner.
  const named = input.instanceId ?? ''
  const base = { instanceId: named, sender: 'USER', userId: '' } as const
  // The statement fills in what only it knows (the owner, the time, the status) and the
  // `question.answered` and `delivery.queued` events.
  const note = core.bus.notification?.([
    { type: 'message.created', ...base, messageId: id, question: false, message },
    { type: 'instance.updated', userId: '', instanceId: named, status: '' },
  ])
  const [row] = await answerStatement<AnswerRow>(
    answerPath(core),
    {
      button: option !== null,
      shared: !!input.allowShared,
      markAsRead: !!input.markAsRead,
      notify: !!note,
      byQuestion: !input.instanceId,
    },
    {
      id,
      instanceId: input.instanceId ?? null,
      actor,
      questionId: qid,
      text: 'text' in answer ? answer.text : null,
      option,
      optionJson: option === null ? null : JSON.stringify({ option }),
      channel: input.channel,
      notifyChannel: note?.channel ?? null,
      notifyPayload: note?.payload ?? null,
    },
  )
  const ownerId = row?.owner
  const instanceId = row?.instance
  if (!ownerId || !instanceId) return { outcome: 'done', result: refused('NOT_FOUND', notFoundText(input)) }
  if (ownerId !== actor && !(input.allowShared && row.access === 'WRITE')) {
    const forbidden = input.allowShared && row.access !== null
    return {
      outcome: 'done',
      result: forbidden
        ? refused('FORBIDDEN', 'You can read this agent instance but not reply to it')
        : refused('NOT_FOUND', notFoundText(input)),
    }
  }
  if (!row.fresh) return { outcome: 'changed' }
  if (qid && !row.question) return { outcome: 'done', result: refused('NOT_FOUND', notFoundText(input)) }
  const q: QuestionRow | null = row.question ? JSON.parse(row.question) : null
  const late = q ? firstAnswer(q) : null
  if (option !== null) {
    if (!q?.options) return { outcome: 'no-options' }
    if (row.text === null) {
      return { outcome: 'done', result: refused('INVALID', 'That option does not exist.', 'option') }
    }
    // A button on a question that is no longer open would reach the agent as a second,
    // contradicting instruction: nothing was written.
    if (late)
      return { outcome: 'done', result: { ...late, instanceId, ownerId, answer: row.text, messageId: null } }
  }
  if (!row.createdAt || !row.status) return { outcome: 'id-behind', latest: row.latest! }
  const chosen = row.text!
  const answered: string[] = row.answered ? JSON.parse(row.answered) : []
  const channels: string[] = row.channels ? JSON.parse(row.channels) : []
  const written = { instanceId, ownerId, answer: chosen, messageId: id }
  const sent = { ...message, content: chosen, createdAt: row.createdAt }
  const userId = ownerId
  await deliverEvents(
    core,
    [
      {
        type: 'message.created',
        userId,
        instanceId,
        messageId: id,
        sender: 'USER',
        question: false,
        message: sent,
      },
      { type: 'instance.updated', userId, instanceId, status: row.status },
      ...answered.map(
        (questionId) =>
          ({
            type: 'question.answered',
            userId,
            instanceId,
            questionId,
            answerId: id,
            answer: sent,
          }) as const,
      ),
      ...deliveryEvents(channels),
    ],
    Number(row.notified) > 0,
  )
  if (late) return { outcome: 'done', result: { ...late, ...written } }
  return { outcome: 'done', result: { status: 'answered', answered, ...written } }
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
