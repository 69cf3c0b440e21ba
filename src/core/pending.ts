// Reading user messages behind a cursor (GET /messages/pending, PATCH request-input) and waiting
// for them. The stale check and the cursor move are one compare-and-set, and waiting is woken by
// the event bus: no loop ever polls the database.
import { and, asc, eq, type SQL, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { agentInstances, messages } from '../db/schema.ts'
import { cachedStatement } from '../db/statements.ts'
import { BadRequest, NotFound } from '../errors.ts'
import { type BusEvent, type EventBus, publishAll, type Topic } from '../events/bus.ts'
import { answerQuestion } from './answers.ts'
import { answerPath, type Core } from './context.ts'
import { deliveryEvents, enqueueQuestion } from './deliveries.ts'
import { instanceCursor, instanceNotFound } from './instances.ts'
import { messageColumns, messageRowSql, userMessagesAfter } from './messages.ts'
import { parseQuestion } from './questions.ts'
import { statusAfterSql } from './statuses.ts'
import type { MessageRow } from './wire.ts'

export type PendingResult = { messages: MessageRow[]; status: 'ok' | 'stale' }

/** One look at the queue; with a cursor X it moves the cursor past what it returns. */
export async function readPending(
  core: Core,
  userId: string,
  instanceId: string,
  lastRead: string | null,
): Promise<PendingResult> {
  return (await look(core, userId, instanceId, lastRead)).result
}

/** readPending, and the cursor it read past: what a message announced later must come after. */
async function look(
  core: Core,
  userId: string,
  instanceId: string,
  lastRead: string | null,
): Promise<{ result: PendingResult; since: string | null }> {
  if (lastRead === null) {
    const cursor = await instanceCursor(answerPath(core), userId, instanceId)
    const found = await userMessagesAfter(answerPath(core), instanceId, cursor)
    return { result: { messages: found, status: 'ok' }, since: cursor }
  }
  return { result: await readAndMove(core, userId, instanceId, lastRead), since: lastRead }
}

type ReadAndMoveRow = { known: boolean; atCursor: boolean | null; found: string | null; moved: boolean }

/**
 * readAndMove's statement: the cursor, the owner's USER messages after `lastRead` when the cursor
 * is there, and the compare-and-set that moves it past the last of them. All of it reads one
 * snapshot; a move made meanwhile by another request makes the update find no row (stale).
 */
const readAndMoveStatement = cachedStatement<
  Record<string, never>,
  { instanceId: string; userId: string; lastRead: string }
>(
  (_, v) => sql`
    with cur as (
      select last_read_message_id as cursor from agent_instances
      where id = ${v.instanceId}::uuid and user_id = ${v.userId}::uuid),
    found as (
      select ${messageRowSql('m')} from messages m
      where m.instance_id = ${v.instanceId}::uuid and m.user_id = ${v.userId}::uuid and m.sender = 'USER'
        and m.id > ${v.lastRead}::uuid and exists (select 1 from cur where cursor = ${v.lastRead}::uuid)),
    moved as (
      update agent_instances set last_read_message_id = (select f.id from found f order by f.id desc limit 1)
      where id = ${v.instanceId}::uuid and last_read_message_id = ${v.lastRead}::uuid
        and exists (select 1 from found) and ${withoutFlushWait}
      returning 1)
    select exists (select 1 from cur) as known, (select cursor = ${v.lastRead}::uuid from cur) as "atCursor",
      (select json_agg(f order by f.id)::text from found f) as found, exists (select 1 from moved) as moved`,
)

/** With a cursor: one statement reads what is after it and moves it past that (compare-and-set). */
async function readAndMove(
  core: Core,
  userId: string,
  instanceId: string,
  lastRead: string,
): Promise<PendingResult> {
  const [row] = await readAndMoveStatement<ReadAndMoveRow>(
    answerPath(core),
    {},
    { instanceId, userId, lastRead },
  )
  if (!row?.known) throw instanceNotFound()
  // Compared in SQL, as uuids: the statement has moved the cursor by what it compared there.
  if (!row.atCursor) return { messages: [], status: 'stale' }
  if (!row.found) return { messages: [], status: 'ok' }
  return row.moved ? { messages: JSON.parse(row.found), status: 'ok' } : { messages: [], status: 'stale' }
}

/**
 * A condition that holds and makes the statement's own transaction commit without waiting for its
 * WAL flush (`synchronous_commit` off, for that transaction only). Only cursor moves use it: the
 * reader who moved the cursor is answered right away instead of after a disk flush, which on a
 * busy database is the slowest step of a woken long-poll (the answer it returns was flushed before
 * it was announced). The move is visible to every reader at once, like any commit, so the
 * compare-and-set is unchanged. Only if Postgres itself crashes before its WAL writer flushes the
 * move (within a second) is the cursor found where it was: what it passed is delivered again (or
 * the agent is told its cursor is stale), never lost. In the WHERE clause, the setting is made
 * whenever a row is written. Never inside a transaction that writes anything else: it would cover
 * that too.
 */
const withoutFlushWait = sql`set_config('synchronous_commit', 'off', true) = 'off'`

/** Moves the read cursor from `from` to `to` unless it was moved meanwhile (compare-and-set). */
async function moveCursor(core: Core, instanceId: string, from: string, to: string, also?: SQL) {
  const moved = await answerPath(core)
    .update(agentInstances)
    .set({ lastReadMessageId: to })
    .where(
      and(
        eq(agentInstances.id, instanceId),
        eq(agentInstances.lastReadMessageId, from),
        also,
        withoutFlushWait,
      ),
    )
    .returning({ id: agentInstances.id })
  return moved.length === 1
}

/**
 * Collects bus events for a topic between looks at the database, so an event that arrives while
 * we are reading is not lost. Subscribe first, then read.
 */
export class Watch {
  private events: BusEvent[] = []
  private wake: (() => void) | null = null
  private readonly unsubscribe: () => void

  constructor(bus: EventBus, topic: Topic, accept: (e: BusEvent) => boolean) {
    this.unsubscribe = bus.subscribe(topic, (e) => {
      if (!accept(e)) return
      this.events.push(e)
      this.wake?.()
    })
  }

  /**
   * Resolves with the events that came since the last call (at once if some had come), or with
   * none at the deadline or on abort.
   */
  next(deadline: number, signal?: AbortSignal): Promise<BusEvent[]> {
    if (this.events.length > 0 || signal?.aborted) return Promise.resolve(this.take())
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', finish)
        this.wake = null
        resolve(this.take())
      }
      const timer = setTimeout(finish, Math.max(0, deadline - Date.now()))
      signal?.addEventListener('abort', finish, { once: true })
      this.wake = finish
    })
  }

  private take(): BusEvent[] {
    const taken = this.events
    this.events = []
    return taken
  }

  close(): void {
    this.unsubscribe()
    this.wake?.()
  }
}

/** GET /messages/pending, optionally long-polling up to `waitMs` for a user message. */
export async function getPending(
  core: Core,
  input: {
    userId: string
    instanceId: string
    lastRead: string | null
    waitMs?: number
    signal?: AbortSignal
  },
): Promise<PendingResult> {
  const waitMs = input.waitMs ?? 0
  if (waitMs <= 0) return readPending(core, input.userId, input.instanceId, input.lastRead)
  const deadline = Date.now() + waitMs
  const watch = new Watch(
    core.bus,
    { instanceId: input.instanceId },
    (e) => e.type === 'message.created' && e.sender === 'USER' && e.userId === input.userId,
  )
  try {
    // The first look reads the database; once woken, the events carry what arrived since.
    let { result, since } = await look(core, input.userId, input.instanceId, input.lastRead)
    for (;;) {
      if (result.status === 'stale' || result.messages.length > 0) return result
      const events = await watch.next(deadline, input.signal)
      if (events.length === 0) return result
      result =
        (await pendingFromEvents(core, input, since, events)) ??
        (await readPending(core, input.userId, input.instanceId, input.lastRead))
    }
  } finally {
    watch.close()
  }
}

/**
 * The woken path: the messages the events carry, and with a cursor one compare-and-set that moves
 * it past them. Null sends the caller back to the database: an event came without its message
 * (too large for NOTIFY), or the cursor did not move, because it was moved elsewhere ('stale') or
 * because a message before the last one has not had its event yet (another machine announces it
 * late): readPending tells which, and returns that message too.
 */
async function pendingFromEvents(
  core: Core,
  input: { userId: string; instanceId: string; lastRead: string | null },
  since: string | null,
  events: BusEvent[],
): Promise<PendingResult | null> {
  const byId = new Map<string, MessageRow>()
  for (const e of events) {
    if (e.type !== 'message.created') continue
    if (!e.message) return null
    // An event sent before our look can carry a message the cursor had already passed.
    if (since === null || e.message.id > since) byId.set(e.message.id, e.message)
  }
  const found = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1))
  const last = found.at(-1)
  if (!last || input.lastRead === null) return { messages: found, status: 'ok' }
  // Only if every USER message up to the last one is among those carried, so none is skipped.
  const complete = sql`${agentInstances.userId} = ${input.userId} and (
    select count(*) from ${messages} where ${messages.instanceId} = ${input.instanceId}
      and ${messages.sender} = 'USER' and ${messages.id} > ${input.lastRead} and ${messages.id} <= ${last.id}
    ) = ${found.length}`
  const moved = await moveCursor(core, input.instanceId, input.lastRead, last.id, complete)
  return moved ? { messages: found, status: 'ok' } : null
}

/** PATCH /messages/{id}/request-input: turn an earlier agent message into a question. */
export async function requestInput(core: Core, userId: string, messageId: string) {
  const [msg] = await core.db
    .select({
      instanceId: messages.instanceId,
      content: messages.content,
      requiresUserInput: messages.requiresUserInput,
    })
    .from(messages)
    .where(and(eq(messages.id, messageId), eq(messages.userId, userId), eq(messages.sender, 'AGENT')))
  if (!msg) throw new NotFound('Agent message not found or access denied')
  if (msg.requiresUserInput) throw new BadRequest('Message already requires user input', 'message_id')
  const flagged = await core.db
    .update(messages)
    .set({ requiresUserInput: true, options: parseQuestion(msg.content).options })
    .where(and(eq(messages.id, messageId), eq(messages.requiresUserInput, false)))
    .returning({ id: messages.id })
  if (flagged.length === 0) throw new BadRequest('Message already requires user input', 'message_id')
  const pending = await readPending(core, userId, msg.instanceId, messageId)
  const first = pending.messages[0]
  if (first) {
    // Replies were already waiting: the first of them answers the question, recorded as its
    // author's answer through the one answer path.
    await answerQuestion(core, {
      actorUserId: userId,
      instanceId: msg.instanceId,
      questionId: messageId,
      answer: { messageId: first.id },
      channel: 'api',
    })
  } else {
    const { channels, status } = await core.db.transaction(async (tx) => {
      const [row] = await tx
        .update(agentInstances)
        .set({
          status: statusAfterSql(agentInstances.status, 'agent-question'),
        })
        .where(eq(agentInstances.id, msg.instanceId))
        .returning({ status: agentInstances.status })
      const queued = await enqueueQuestion(tx, { ownerId: userId, instanceId: msg.instanceId, messageId })
      return { channels: queued, status: row!.status }
    })
    const { instanceId } = msg
    await publishAll(core.bus, [
      { type: 'message.created', userId, instanceId, messageId, sender: 'AGENT', question: true },
      { type: 'instance.updated', userId, instanceId, status },
      ...deliveryEvents(channels),
    ])
  }
  return { instanceId: msg.instanceId, ...pending }
}

export type Answer = { questionId: string; answer: MessageRow }

const question = alias(messages, 'q')

/** The answer to a question if it has one; 'closed' when it was closed without one. */
export async function answerOf(
  core: Core,
  userId: string,
  questionId: string,
): Promise<Answer | 'closed' | null> {
  const [row] = await answerPath(core)
    .select({ answeredAt: question.answeredAt, answer: messageColumns })
    .from(question)
    .leftJoin(messages, eq(question.answerMessageId, messages.id))
    .where(and(eq(question.id, questionId), eq(question.userId, userId)))
  if (!row?.answeredAt) return null
  return row.answer?.id ? { questionId, answer: row.answer as MessageRow } : 'closed'
}

/**
 * Blocks until the question is answered (the answer), or is closed without an answer, the
 * deadline passes or the signal aborts (null). `onTick` runs every `tickMs` while waiting (MCP
 * progress notifications).
 */
export async function waitForAnswer(
  core: Core,
  input: {
    userId: string
    instanceId: string
    questionId: string
    deadline: number
    signal?: AbortSignal
    tickMs?: number
    onTick?: () => void | Promise<void>
  },
): Promise<Answer | null> {
  const watch = new Watch(
    core.bus,
    { instanceId: input.instanceId },
    (e) => e.type === 'question.answered' && e.questionId === input.questionId && e.userId === input.userId,
  )
  try {
    let found = await answerOf(core, input.userId, input.questionId)
    for (;;) {
      if (found === 'closed') return null
      if (found) return found
      if (Date.now() >= input.deadline || input.signal?.aborted) return null
      const tickAt = input.tickMs ? Math.min(input.deadline, Date.now() + input.tickMs) : input.deadline
      const events = await watch.next(tickAt, input.signal)
      if (events.length === 0 && input.onTick && Date.now() < input.deadline && !input.signal?.aborted)
        await input.onTick()
      found =
        answerFromEvents(input.questionId, events) ?? (await answerOf(core, input.userId, input.questionId))
    }
  } finally {
    watch.close()
  }
}

/** The answer the waking event carries; null when none came with it (read the database). */
function answerFromEvents(questionId: string, events: BusEvent[]): Answer | 'closed' | null {
  for (const e of events) {
    if (e.type !== 'question.answered') continue
    if (e.answerId === null) return 'closed'
    if (e.answer?.id === e.answerId) return { questionId, answer: e.answer }
  }
  return null
}

/** After a blocking ask delivered its answer, move the cursor past it (unless the agent moved on). */
export async function consumeAnswer(core: Core, instanceId: string, questionId: string, answerId: string) {
  await moveCursor(core, instanceId, questionId, answerId)
}

/** For queued user messages: which of them answered a question (their waiter had gone: "late"). */
export async function questionsAnsweredBy(core: Core, instanceId: string, answerIds: string[]) {
  if (answerIds.length === 0) return new Map<string, string>()
  const rows = await core.db
    .select({ answerId: messages.answerMessageId, content: messages.content })
    .from(messages)
    .where(
      and(
        eq(messages.instanceId, instanceId),
        eq(messages.sender, 'AGENT'),
        sql`${messages.answerMessageId} in ${answerIds}`,
      ),
    )
    .orderBy(asc(messages.id))
  return new Map(rows.map((r) => [r.answerId!, r.content]))
}
