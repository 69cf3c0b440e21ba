// Posting messages. An agent message creates its instance on first use, returns the user
// messages queued since the read cursor and moves the cursor onto itself (Omnara's contract).
// A user message answers the open question(s) before it: that is answerQuestion (answers.ts).
import { and, asc, eq, gt, sql } from 'drizzle-orm'
import type { DbOrTx, Tx } from '../db/client.ts'
import { agentInstances, messages } from '../db/schema.ts'
import { Conflict, InvalidInput, NotFound } from '../errors.ts'
import { publishAll } from '../events/bus.ts'
import { answerQuestion, refusalError } from './answers.ts'
import { type Core, newMessageIdAfter, pgErrorCode } from './context.ts'
import { deliveryEvents, enqueueProgress, enqueueQuestion, hasRecipients } from './deliveries.ts'
import { agentTypeId } from './instances.ts'
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
    await publishAll(core.bus, [
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
