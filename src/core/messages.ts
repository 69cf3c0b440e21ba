// Posting messages. An agent message creates its instance on first use, returns the user
// messages queued since the read cursor and moves the cursor onto itself (Omnara's contract).
// A user message answers the open question(s) before it: that is answerQuestion (answers.ts).
import { and, asc, eq, gt, sql } from 'drizzle-orm'
import type { DbOrTx, Tx } from '../db/client.ts'
import { agentInstances, messages } from '../db/schema.ts'
import { cachedStatement } from '../db/statements.ts'
import { Conflict, InvalidInput } from '../errors.ts'
import { publishAfterCommit } from '../events/bus.ts'
import { answerQuestion, refusalError } from './answers.ts'
import { type Core, newMessageId, newMessageIdAfter, pgErrorCode } from './context.ts'
import {
  deliveryEvents,
  enqueueProgress,
  enqueueQuestion,
  hasRecipients,
  progressRowsSql,
  questionRowsSql,
} from './deliveries.ts'
import { agentTypeId, instanceNotFound } from './instances.ts'
import {
  idFloorSql,
  instanceCtes,
  instanceFrom,
  instanceState,
  ONE_STATEMENT_TRIES,
  unchangedAndLast,
} from './one-statement.ts'
import { parseQuestion } from './questions.ts'
import { statusAfterSql } from './statuses.ts'
import type { MessageRow } from './wire.ts'

export const messageColumns = {
  id: messages.id,
  content: messages.content,
  sender: messages.sender,
  createdAt: messages.createdAt,
  requiresUserInput: messages.requiresUserInput,
}

/**
 * messageColumns in a statement's SQL, of the messages row `m`, timestamps as Postgres's text (as
 * drizzle reads them): aggregated with json_agg, each row is a MessageRow.
 */
export const messageRowSql = (m: string) =>
  sql.raw(
    Object.entries(messageColumns)
      .map(
        ([key, c]) => `${m}.${c.name}${c.getSQLType().startsWith('timestamp') ? '::text' : ''} as "${key}"`,
      )
      .join(', '),
  )

/** USER messages after `cursor` (all of them when null), oldest first; `userId` scopes to an owner. */
export function userMessagesAfter(
  db: Tx | Core['db'],
  instanceId: string,
  cursor: string | null,
  userId?: string,
) {
  return db
    .select(messageColumns)
    .from(messages)
    .where(
      and(
        eq(messages.instanceId, instanceId),
        userId ? eq(messages.userId, userId) : undefined,
        eq(messages.sender, 'USER'),
        cursor ? gt(messages.id, cursor) : undefined,
      ),
    )
    .orderBy(asc(messages.id))
}

export type AgentMessageInput = {
  userId: string
  instanceId: string
  agentType?: string | null
  content: string
  requiresUserInput: boolean
  options?: string[] | null
  timeoutSeconds?: number | null
  gitDiff?: string
  metadata?: Record<string, unknown> | null
  idempotencyKey?: string | null
  /** Leave the read cursor and the queue alone: hook agents read user messages only at Stop. */
  keepCursor?: boolean
}

export type AgentMessageResult = {
  instanceId: string
  messageId: string
  queued: MessageRow[]
  /** Channels that got outbox rows (announced after commit). */
  channels?: string[]
  /** True when an Idempotency-Key matched an earlier request: nothing new was written. */
  replayed: boolean
  /** The instance's status as the row has it after this message (COMPLETED stays COMPLETED). */
  status?: string
}

async function replay(tx: Tx, input: AgentMessageInput): Promise<AgentMessageResult | null> {
  if (!input.idempotencyKey) return null
  const [prior] = await tx
    .select({ id: messages.id, instanceId: messages.instanceId })
    .from(messages)
    .where(and(eq(messages.userId, input.userId), eq(messages.idempotencyKey, input.idempotencyKey)))
  if (!prior) return null
  if (prior.instanceId !== input.instanceId) {
    throw new Conflict('Idempotency-Key was already used for another agent instance')
  }
  // The user messages this request returned the first time: those between the previous agent
  // message and this one.
  const [previous] = await tx
    .select({ id: messages.id })
    .from(messages)
    .where(
      and(
        eq(messages.instanceId, prior.instanceId),
        eq(messages.sender, 'AGENT'),
        sql`${messages.id} < ${prior.id}`,
      ),
    )
    .orderBy(sql`${messages.id} desc`)
    .limit(1)
  const queued = await tx
    .select(messageColumns)
    .from(messages)
    .where(
      and(
        eq(messages.instanceId, prior.instanceId),
        eq(messages.sender, 'USER'),
        sql`${messages.id} < ${prior.id}`,
        previous ? gt(messages.id, previous.id) : undefined,
      ),
    )
    .orderBy(asc(messages.id))
  return { instanceId: prior.instanceId, messageId: prior.id, queued, replayed: true }
}

/** Locks an instance row for an agent message: what the message needs to know about it. */
export const lockInstance = (db: DbOrTx, instanceId: string) =>
  db
    .select({
      userId: agentInstances.userId,
      status: agentInstances.status,
      cursor: agentInstances.lastReadMessageId,
      idFloor: idFloorSql,
      hasRecipients: hasRecipients(agentInstances.id, agentInstances.userId),
    })
    .from(agentInstances)
    .where(eq(agentInstances.id, instanceId))
    .for('update')

async function lockOrCreateInstance(tx: Tx, input: AgentMessageInput) {
  const lock = () => lockInstance(tx, input.instanceId)
  let [inst] = await lock()
  if (!inst) {
    if (!input.agentType?.trim()) {
      throw new InvalidInput('agent_type', 'agent_type is required when creating new instance')
    }
    const typeId = await agentTypeId(tx, input.userId, input.agentType)
    await tx
      .insert(agentInstances)
      .values({ id: input.instanceId, userId: input.userId, agentTypeId: typeId, status: 'ACTIVE' })
      .onConflictDoNothing()
    ;[inst] = await lock()
  }
  if (!inst || inst.userId !== input.userId) throw instanceNotFound()
  return inst
}

export async function postAgentMessage(core: Core, input: AgentMessageInput): Promise<AgentMessageResult> {
  let id = newMessageId()
  for (let attempt = 0; attempt < ONE_STATEMENT_TRIES; attempt++) {
    let done: OneStatement
    try {
      done = await postInOneStatement(core, input, id)
    } catch (err) {
      // Two requests with the same Idempotency-Key raced: the transaction below replays the winner.
      if (input.idempotencyKey && pgErrorCode(err) === '23505') break
      throw err
    }
    if (done.outcome === 'written') return done.result
    if (done.outcome === 'not-found') throw instanceNotFound()
    if (done.outcome === 'id-behind') id = newMessageIdAfter(done.latest)
    // 'missing' (first message) and 'replay' take the transaction; 'changed' tries again.
    else if (done.outcome !== 'changed') break
  }
  return postInTransaction(core, input)
}

type OneStatement =
  | { outcome: 'written'; result: AgentMessageResult }
  | { outcome: 'id-behind'; latest: string }
  | { outcome: 'missing' | 'not-found' | 'replay' | 'changed' }

/** What selects the text of the agent message's statement; everything else is a bound value. */
type PostShape = { question: boolean; keepCursor: boolean; key: boolean; timeout: boolean; gitDiff: boolean }

type PostValues = {
  id: string
  instanceId: string
  userId: string
  content: string
  options: string | null
  timeoutSeconds: number | null
  metadata: string | null
  key: string | null
  gitDiff: string | null
}

type PostRow = {
  owner: string | null
  latest: string | null
  fresh: boolean | null
  replay: boolean
  status: string | null
  queued: string | null
  channels: string | null
}

/** The agent message's statement (postInOneStatement), built once per shape. */
const postStatement = cachedStatement<PostShape, PostValues>((s, v) => {
  const cause = s.question ? 'agent-question' : 'agent-message'
  const copy = { ownerId: v.userId, instanceId: v.instanceId, messageId: v.id }
  const guard = sql`exists (select 1 from ok)`
  const outbox = s.question ? questionRowsSql(copy, guard) : progressRowsSql(copy, guard)
  const priorKey = s.key ? sql`user_id = ${v.userId} and idempotency_key = ${v.key}` : sql`false`
  return sql`
    with ${instanceCtes(v.instanceId)},
    prior as (select 1 from messages where ${priorKey}),
    ok as (
      select l.cursor from locked l, snap s, latest
      where l.user_id = ${v.userId} and not exists (select 1 from prior) and ${unchangedAndLast(v.id)}),
    queued as (
      select ${messageRowSql('m')}
      from messages m
      where ${s.keepCursor ? sql`false` : sql`m.instance_id = ${v.instanceId} and m.sender = 'USER'`}
        and exists (select 1 from ok)
        -- A value, not a join: the index on (instance_id, id) starts at the cursor instead of
        -- reading every message of the session.
        and m.id > coalesce((select cursor from ok), '00000000-0000-0000-0000-000000000000')),
    inserted as (
      insert into messages (id, instance_id, user_id, sender, content, requires_user_input, options,
        timeout_at, metadata, idempotency_key)
      select ${v.id}::uuid, ${v.instanceId}::uuid, ${v.userId}::uuid, 'AGENT', ${v.content}::text,
        ${s.question}::boolean, ${v.options}::jsonb,
        ${s.timeout ? sql`now() + make_interval(secs => ${v.timeoutSeconds})` : sql`null::timestamptz`},
        ${v.metadata}::jsonb, ${v.key}::text
      from ok
      returning id),
    updated as (
      update agent_instances set status = ${statusAfterSql('agent_instances.status', cause)},
        last_heartbeat_at = now(), last_activity_at = now()
        ${s.keepCursor ? sql`` : sql`, last_read_message_id = ${v.id}::uuid`}
        ${s.gitDiff ? sql`, git_diff = ${v.gitDiff}::text` : sql``}
      from ok where agent_instances.id = ${v.instanceId}
      returning agent_instances.status),
    outbox as (${outbox} returning channel)
    select ${instanceState}, exists (select 1 from prior) as replay,
      (select status from updated) as status,
      (select json_agg(q order by q.id)::text from queued q) as queued,
      (select json_agg(distinct channel)::text from outbox) as channels
    ${instanceFrom}`
})

const json = (v: unknown) => (v == null ? null : JSON.stringify(v))

/**
 * The common case in one statement, one round trip: the instance exists and the key (if any) is
 * new. It locks the instance row, reads the queued user messages, inserts the message, moves the
 * cursor and queues the outbox rows; or writes nothing and says why.
 *
 * See one-statement.ts for why it can write nothing, and what then.
 */
async function postInOneStatement(core: Core, input: AgentMessageInput, id: string): Promise<OneStatement> {
  const { userId, instanceId } = input
  const question = input.requiresUserInput ? parseQuestion(input.content, input.options) : null
  const [row] = await postStatement<PostRow>(
    core.db,
    {
      question: input.requiresUserInput,
      keepCursor: !!input.keepCursor,
      key: !!input.idempotencyKey,
      timeout: !!input.timeoutSeconds,
      gitDiff: input.gitDiff !== undefined,
    },
    {
      id,
      instanceId,
      userId,
      content: input.content,
      options: json(question?.options),
      timeoutSeconds: input.timeoutSeconds ?? null,
      metadata: json(input.metadata),
      key: input.idempotencyKey ?? null,
      gitDiff: input.gitDiff ?? null,
    },
  )
  if (!row?.owner) return { outcome: 'missing' }
  if (row.owner !== userId) return { outcome: 'not-found' }
  if (row.replay) return { outcome: 'replay' }
  if (!row.fresh) return { outcome: 'changed' }
  if (!row.status) return { outcome: 'id-behind', latest: row.latest! }
  const channels: string[] = row.channels ? JSON.parse(row.channels) : []
  // Published by the bus, not by a pg_notify in the statement: Postgres serialises the commits of
  // transactions that notify (a global lock held through the commit's WAL flush), which cut the
  // rate of 32 agents posting at once to a third; the bus sends one NOTIFY for many messages.
  await publishAfterCommit(core.bus, [
    { type: 'message.created', userId, instanceId, messageId: id, sender: 'AGENT', question: !!question },
    { type: 'instance.updated', userId, instanceId, status: row.status },
    ...deliveryEvents(channels),
  ])
  return {
    outcome: 'written',
    result: {
      instanceId,
      messageId: id,
      queued: row.queued ? JSON.parse(row.queued) : [],
      replayed: false,
      channels,
      status: row.status,
    },
  }
}

/** The general case, one transaction: creates the instance on first use, replays a known key. */
async function postInTransaction(core: Core, input: AgentMessageInput): Promise<AgentMessageResult> {
  const question = input.requiresUserInput ? parseQuestion(input.content, input.options) : null
  const run = () =>
    core.db.transaction(async (tx) => {
      const prior = await replay(tx, input)
      if (prior) return prior
      const inst = await lockOrCreateInstance(tx, input)
      const id = newMessageIdAfter(inst.idFloor)
      // COMPLETED stays completed (Omnara); DELETED stays deleted (statuses.ts).
      const cause = input.requiresUserInput ? 'agent-question' : 'agent-message'
      // Independent statements behind the row lock: issued together, they share one round trip.
      const [queued, , [row]] = await Promise.all([
        input.keepCursor ? [] : userMessagesAfter(tx, input.instanceId, inst.cursor),
        tx.insert(messages).values({
          id,
          instanceId: input.instanceId,
          userId: input.userId,
          sender: 'AGENT',
          content: input.content,
          requiresUserInput: input.requiresUserInput,
          options: question?.options ?? null,
          timeoutAt: input.timeoutSeconds
            ? sql`now() + make_interval(secs => ${input.timeoutSeconds})`
            : null,
          metadata: input.metadata ?? null,
          idempotencyKey: input.idempotencyKey ?? null,
        }),
        tx
          .update(agentInstances)
          .set({
            status: statusAfterSql(agentInstances.status, cause),
            lastHeartbeatAt: sql`now()`,
            lastActivityAt: sql`now()`,
            ...(input.keepCursor ? {} : { lastReadMessageId: id }),
            ...(input.gitDiff !== undefined ? { gitDiff: input.gitDiff } : {}),
          })
          .where(eq(agentInstances.id, input.instanceId))
          .returning({ status: agentInstances.status }),
      ])
      const notify = { ownerId: input.userId, instanceId: input.instanceId, messageId: id }
      const enqueue = input.requiresUserInput ? enqueueQuestion : enqueueProgress
      const channels = inst.hasRecipients ? await enqueue(tx, notify) : []
      return {
        instanceId: input.instanceId,
        messageId: id,
        queued,
        replayed: false,
        channels,
        status: row!.status,
      }
    })
  let result: AgentMessageResult
  try {
    result = await run()
  } catch (err) {
    // Two requests with the same Idempotency-Key raced: the loser replays the winner.
    if (input.idempotencyKey && pgErrorCode(err) === '23505') result = await run()
    else throw err
  }
  if (!result.replayed) {
    const { userId, instanceId } = input
    await publishAfterCommit(core.bus, [
      {
        type: 'message.created',
        userId,
        instanceId,
        messageId: result.messageId,
        sender: 'AGENT',
        question: input.requiresUserInput,
      },
      { type: 'instance.updated', userId, instanceId, status: result.status! },
      ...deliveryEvents(result.channels ?? []),
    ])
  }
  return result
}

export type UserMessageInput = {
  actorUserId: string
  instanceId: string
  content: string
  markAsRead: boolean
  channel: string
  questionId?: string
  allowShared?: boolean
}

/**
 * A person's typed message to an instance (REST `POST /messages/user`): a thin name for
 * answerQuestion with text, where a refusal is thrown for the HTTP edge.
 */
export async function postUserMessage(core: Core, input: UserMessageInput) {
  const { content, ...rest } = input
  const outcome = await answerQuestion(core, { ...rest, answer: { text: content } })
  if (outcome.status === 'refused') throw refusalError(outcome)
  return {
    messageId: outcome.messageId!,
    ownerId: outcome.ownerId,
    answered: outcome.status === 'answered' ? outcome.answered : [],
    outcome,
  }
}
