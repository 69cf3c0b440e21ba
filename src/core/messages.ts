// Posting messages. An agent message creates its instance on first use, returns the user
// messages queued since the read cursor and moves the cursor onto itself (Omnara's contract).
// A user message answers the open question(s) before it, atomically: first answer wins.
import { and, asc, eq, gt, isNull, or, sql } from 'drizzle-orm'
import type { DbOrTx, Tx } from '../db/client.ts'
import { agentInstances, deliveries, instanceAccess, messages } from '../db/schema.ts'
import { Conflict, Forbidden, InvalidInput, NotFound } from '../errors.ts'
import { publishAll } from '../events/bus.ts'
import { type Core, newMessageIdAfter, pgErrorCode } from './context.ts'
import {
  deliveryEvents,
  enqueueLocks,
  enqueueProgress,
  enqueueQuestion,
  hasCopies,
  hasRecipients,
} from './deliveries.ts'
import { agentTypeId } from './instances.ts'
import { parseQuestion } from './questions.ts'
import type { MessageRow } from './wire.ts'

export const messageColumns = {
  id: messages.id,
  content: messages.content,
  sender: messages.sender,
  createdAt: messages.createdAt,
  requiresUserInput: messages.requiresUserInput,
}

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
  if (!inst || inst.userId !== input.userId) throw new NotFound('Agent instance not found')
  return inst
}

export async function postAgentMessage(core: Core, input: AgentMessageInput): Promise<AgentMessageResult> {
  const question = input.requiresUserInput ? parseQuestion(input.content, input.options) : null
  const run = () =>
    core.db.transaction(async (tx) => {
      const prior = await replay(tx, input)
      if (prior) return prior
      const inst = await lockOrCreateInstance(tx, input)
      const id = newMessageIdAfter(inst.cursor)
      // COMPLETED stays completed (Omnara); DELETED stays deleted: a soft-deleted instance is not
      // resurrected behind its owner's back.
      const status = input.requiresUserInput ? 'AWAITING_INPUT' : 'ACTIVE'
      // Independent statements behind the row lock: issued together, they share one round trip.
      const [queued] = await Promise.all([
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
            status: sql`case when ${agentInstances.status} in ('COMPLETED','DELETED') then ${agentInstances.status} else ${status} end`,
            lastHeartbeatAt: sql`now()`,
            lastActivityAt: sql`now()`,
            ...(input.keepCursor ? {} : { lastReadMessageId: id }),
            ...(input.gitDiff !== undefined ? { gitDiff: input.gitDiff } : {}),
          })
          .where(eq(agentInstances.id, input.instanceId)),
      ])
      const notify = { ownerId: input.userId, instanceId: input.instanceId, messageId: id }
      const enqueue = input.requiresUserInput ? enqueueQuestion : enqueueProgress
      const channels = inst.hasRecipients ? await enqueue(tx, notify) : []
      return { instanceId: input.instanceId, messageId: id, queued, replayed: false, channels }
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
    await publishAll(core.bus, [
      {
        type: 'message.created',
        userId,
        instanceId,
        messageId: result.messageId,
        sender: 'AGENT',
        question: input.requiresUserInput,
      },
      {
        type: 'instance.updated',
        userId,
        instanceId,
        status: input.requiresUserInput ? 'AWAITING_INPUT' : 'ACTIVE',
      },
      ...deliveryEvents(result.channels ?? []),
    ])
  }
  return result
}

export type UserMessageInput = {
  /** The person answering (owner, or a user the instance is shared with for WRITE). */
  actorUserId: string
  instanceId: string
  content: string
  markAsRead: boolean
  channel: string
  /** Answer this question specifically (a button or a reply to one copy of it). */
  questionId?: string
  /** Who may post: agents' REST callers must own the instance; people may also be WRITE-shared. */
  allowShared?: boolean
}

export type UserMessageResult = {
  messageId: string
  ownerId: string
  answered: string[]
  /** Set when `questionId` was given and someone else had answered it first. */
  alreadyAnswered: { by: string | null; via: string | null; answerId: string | null } | null
}

async function lockForUser(tx: Tx, input: UserMessageInput) {
  const [inst] = await tx
    .select({
      userId: agentInstances.userId,
      status: agentInstances.status,
      cursor: agentInstances.lastReadMessageId,
    })
    .from(agentInstances)
    .where(eq(agentInstances.id, input.instanceId))
    .for('update')
  if (!inst) throw new NotFound('Agent instance not found')
  if (inst.userId === input.actorUserId) return inst
  if (input.allowShared) {
    const [access] = await tx
      .select({ access: instanceAccess.access })
      .from(instanceAccess)
      .where(
        and(eq(instanceAccess.instanceId, input.instanceId), eq(instanceAccess.userId, input.actorUserId)),
      )
    if (access?.access === 'WRITE') return inst
    if (access) throw new Forbidden('You can read this agent instance but not reply to it')
  }
  throw new NotFound('Agent instance not found')
}

export async function postUserMessage(core: Core, input: UserMessageInput): Promise<UserMessageResult> {
  const result = await core.db.transaction(async (tx) => {
    const inst = await lockForUser(tx, input)
    // The id is made under the lock, after the read cursor: an agent message that took the lock
    // first has moved the cursor, and a reply ordered behind it would never reach the agent.
    const id = newMessageIdAfter(inst.cursor)
    // Independent statements behind the row lock: issued together, they share one round trip.
    const [, answered] = await Promise.all([
      tx.insert(messages).values({
        id,
        instanceId: input.instanceId,
        userId: inst.userId,
        sender: 'USER',
        senderUserId: input.actorUserId,
        content: input.content,
        channel: input.channel,
      }),
      tx
        .update(messages)
        .set({
          answeredAt: sql`now()`,
          answerMessageId: id,
          answeredVia: input.channel,
          answeredBy: input.actorUserId,
        })
        .where(
          and(
            eq(messages.instanceId, input.instanceId),
            eq(messages.sender, 'AGENT'),
            eq(messages.requiresUserInput, true),
            isNull(messages.answeredAt),
            or(isNull(messages.timeoutAt), sql`${messages.timeoutAt} > now()`),
            sql`${messages.id} < ${id}`,
            input.questionId ? eq(messages.id, input.questionId) : undefined,
          ),
        )
        .returning({ id: messages.id, metadata: messages.metadata, hasCopies: hasCopies() }),
      tx
        .update(agentInstances)
        .set({
          status: sql`case when ${agentInstances.status} = 'DELETED' then 'DELETED' else 'ACTIVE' end`,
          lastActivityAt: sql`now()`,
          ...(input.markAsRead ? { lastReadMessageId: id } : {}),
        })
        .where(eq(agentInstances.id, input.instanceId)),
    ])
    let alreadyAnswered: UserMessageResult['alreadyAnswered'] = null
    if (input.questionId && answered.length === 0) {
      const [q] = await tx
        .select({ by: messages.answeredBy, via: messages.answeredVia, answerId: messages.answerMessageId })
        .from(messages)
        .where(and(eq(messages.id, input.questionId), eq(messages.instanceId, input.instanceId)))
      alreadyAnswered = q ?? { by: null, via: null, answerId: null }
    }
    const hooks = answered.flatMap((q) => {
      const url = (q.metadata as { webhook_url?: unknown } | null)?.webhook_url
      return typeof url === 'string' && url ? [{ questionId: q.id, url }] : []
    })
    if (hooks.length > 0) {
      await tx
        .insert(deliveries)
        .values(
          hooks.map((h) => ({
            userId: inst.userId,
            messageId: h.questionId,
            instanceId: input.instanceId,
            channel: 'webhook',
            kind: 'webhook' as const,
            target: h.url,
            payload: { answerMessageId: id, actorUserId: input.actorUserId },
          })),
        )
        .onConflictDoNothing()
    }
    const channels = await enqueueLocks(
      tx,
      answered.filter((a) => a.hasCopies).map((a) => a.id),
    )
    if (hooks.length > 0) channels.push('webhook')
    return {
      messageId: id,
      ownerId: inst.userId,
      answered: answered.map((a) => a.id),
      alreadyAnswered,
      channels,
    }
  })
  const { ownerId: userId, messageId: id } = result
  const { instanceId } = input
  await publishAll(core.bus, [
    { type: 'message.created', userId, instanceId, messageId: id, sender: 'USER', question: false },
    ...result.answered.map(
      (questionId) => ({ type: 'question.answered', userId, instanceId, questionId, answerId: id }) as const,
    ),
    { type: 'instance.updated', userId, instanceId, status: 'ACTIVE' },
    ...deliveryEvents(result.channels),
  ])
  return {
    messageId: result.messageId,
    ownerId: result.ownerId,
    answered: result.answered,
    alreadyAnswered: result.alreadyAnswered,
  }
}
