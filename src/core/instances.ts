// Agent instances: lookup scoped by owner, creation on first use, registration, heartbeats,
// ending, and the few status changes the agent API may make.
import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { DbOrTx } from '../db/client.ts'
import { agentInstances, agentTypes, type InstanceStatus, messages } from '../db/schema.ts'
import { BadRequest, Conflict, NotFound } from '../errors.ts'
import type { Core } from './context.ts'
import { announceDeliveries, enqueueProgress } from './deliveries.ts'
import { openQuestionSql } from './open-questions.ts'
import { LIVE_STATUSES, statusAfterSql } from './statuses.ts'

export type InstanceRow = typeof agentInstances.$inferSelect

export const normalizeAgentType = (name: string) => name.trim().toLowerCase()

export const instanceNotFound = () => new NotFound('Agent instance not found')

/** The read cursor of an instance the user owns. Narrow on purpose: the full row carries the git diff. */
export async function instanceCursor(db: DbOrTx, userId: string, instanceId: string): Promise<string | null> {
  const [row] = await db
    .select({ cursor: agentInstances.lastReadMessageId })
    .from(agentInstances)
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
  if (!row) throw instanceNotFound()
  return row.cursor
}

/** The caller's instance, or 404 for one that does not exist or belongs to someone else. */
export async function ownInstance(db: DbOrTx, userId: string, instanceId: string): Promise<InstanceRow> {
  const [row] = await db
    .select()
    .from(agentInstances)
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
  if (!row) throw instanceNotFound()
  return row
}

export async function agentTypeId(db: DbOrTx, userId: string, name: string): Promise<string> {
  const [row] = await db
    .insert(agentTypes)
    .values({ userId, name: normalizeAgentType(name) })
    .onConflictDoUpdate({ target: [agentTypes.userId, agentTypes.name], set: { name: sql`excluded.name` } })
    .returning({ id: agentTypes.id })
  return row!.id
}

export type RegisteredInstance = {
  id: string
  agentTypeId: string
  agentTypeName: string
  status: InstanceStatus
  name: string | null
  metadata: unknown
}

export async function describeInstance(core: Core, userId: string, instanceId: string) {
  const [row] = await core.db
    .select({
      id: agentInstances.id,
      agentTypeId: agentInstances.agentTypeId,
      agentTypeName: agentTypes.name,
      status: agentInstances.status,
      name: agentInstances.name,
      metadata: agentInstances.metadata,
    })
    .from(agentInstances)
    .innerJoin(agentTypes, eq(agentTypes.id, agentInstances.agentTypeId))
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
  if (!row) throw instanceNotFound()
  return row satisfies RegisteredInstance
}

/**
 * Creates `userId`'s instance with this id (ACTIVE, alive now) unless the id exists already,
 * whoever's it is; true when it was created. For agents whose first contact makes the instance.
 */
export async function createInstanceIfNew(
  core: Core,
  input: {
    userId: string
    instanceId: string
    agentType: string
    name?: string | null
    lastReadMessageId?: string
    metadata: unknown
  },
): Promise<boolean> {
  const created = await core.db.transaction(async (tx) => {
    const typeId = await agentTypeId(tx, input.userId, input.agentType)
    return tx
      .insert(agentInstances)
      .values({
        id: input.instanceId,
        userId: input.userId,
        agentTypeId: typeId,
        name: input.name ?? null,
        status: 'ACTIVE',
        lastHeartbeatAt: sql`now()`,
        lastReadMessageId: input.lastReadMessageId,
        metadata: input.metadata,
      })
      .onConflictDoNothing()
      .returning({ id: agentInstances.id })
  })
  if (created.length === 0) return false
  await publishStatus(core, input.userId, input.instanceId, 'ACTIVE')
  return true
}

class IdTaken extends Error {}

/** POST /agent-instances: pre-register an instance (409 if it is already the caller's). */
export async function registerInstance(
  core: Core,
  input: {
    userId: string
    agentType: string
    instanceId: string
    name: string | null
    transport: string | null
  },
): Promise<RegisteredInstance> {
  const taken = await core.db
    .transaction(async (tx) => {
      const typeId = await agentTypeId(tx, input.userId, input.agentType)
      const [row] = await tx
        .insert(agentInstances)
        .values({
          id: input.instanceId,
          userId: input.userId,
          agentTypeId: typeId,
          name: input.name,
          status: 'ACTIVE',
          metadata: input.transport ? { transport: input.transport } : null,
        })
        .onConflictDoNothing()
        .returning({ id: agentInstances.id })
      // The id is taken: roll back, so not even the agent type is left behind.
      if (!row) throw new IdTaken()
      return false
    })
    .catch((err) => {
      if (err instanceof IdTaken) return true
      throw err
    })
  if (taken) {
    const [existing] = await core.db
      .select({ userId: agentInstances.userId })
      .from(agentInstances)
      .where(eq(agentInstances.id, input.instanceId))
    if (existing?.userId === input.userId) throw new Conflict('Agent instance already exists')
    throw instanceNotFound()
  }
  await publishStatus(core, input.userId, input.instanceId, 'ACTIVE')
  return describeInstance(core, input.userId, input.instanceId)
}

/**
 * The agent is back (a hook SessionStart, a relay socket): the session is live again, so a resumed
 * session reopens a completed instance (a deleted one stays deleted). The user's own instance only;
 * false when there is none.
 */
export async function reopenSession(core: Core, userId: string, instanceId: string): Promise<boolean> {
  const [row] = await core.db
    .update(agentInstances)
    .set({
      status: statusAfterSql(agentInstances.status, 'session-start'),
      endedAt: sql`case when ${agentInstances.status} = 'DELETED' then ${agentInstances.endedAt} else null end`,
      lastHeartbeatAt: sql`now()`,
      lastActivityAt: sql`now()`,
    })
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
    .returning({ status: agentInstances.status })
  if (!row) return false
  await publishStatus(core, userId, instanceId, row.status)
  return true
}

export async function publishStatus(core: Core, userId: string, instanceId: string, status: string) {
  await core.bus.publish({ type: 'instance.updated', userId, instanceId, status })
}

/** Heartbeat: refreshes presence; a DISCONNECTED instance comes back to life. */
export async function heartbeat(core: Core, userId: string, instanceId: string) {
  const [row] = await core.db
    .update(agentInstances)
    .set({
      lastHeartbeatAt: sql`now()`,
      status: sql`case when ${agentInstances.status} = 'DISCONNECTED' then
        (case when exists (select 1 from messages m where m.instance_id = ${agentInstances.id}
           and ${openQuestionSql('m')}) then 'AWAITING_INPUT' else 'ACTIVE' end)
        else ${agentInstances.status} end`,
    })
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
    .returning({ at: agentInstances.lastHeartbeatAt, status: agentInstances.status })
  if (!row) throw instanceNotFound()
  await publishStatus(core, userId, instanceId, row.status)
  return { lastHeartbeatAt: row.at! }
}

/** How an agent may end its session: COMPLETED (Omnara's only one), or FAILED (a command that failed). */
export const END_STATUSES = ['COMPLETED', 'FAILED'] as const satisfies readonly InstanceStatus[]
export type EndStatus = (typeof END_STATUSES)[number]

/** Ends a session: COMPLETED (or FAILED), ended_at = now. Idempotent. Queues the "session ended" note. */
export async function endSession(
  core: Core,
  userId: string,
  instanceId: string,
  status: EndStatus = 'COMPLETED',
) {
  const channels = await core.db.transaction(async (tx) => {
    const [row] = await tx
      .update(agentInstances)
      .set({
        status,
        endedAt: sql`now()`,
        lastHeartbeatAt: sql`now()`,
        lastActivityAt: sql`now()`,
      })
      .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
      .returning({ id: agentInstances.id })
    if (!row) throw instanceNotFound()
    // The status message refers to the latest message; an instance without one has none to end.
    const [last] = await tx
      .select({ id: messages.id })
      .from(messages)
      .where(eq(messages.instanceId, instanceId))
      .orderBy(desc(messages.id))
      .limit(1)
    return last ? enqueueProgress(tx, { ownerId: userId, instanceId, messageId: last.id }) : []
  })
  await publishStatus(core, userId, instanceId, status)
  await announceDeliveries(core, channels)
  return { status }
}

/**
 * PUT /agent-instances/{id}/status (Omnara's SDK): COMPLETED as in Omnara, plus FAILED (additive)
 * so that `parley run` can say its command failed.
 */
export async function updateStatus(core: Core, userId: string, instanceId: string, status: string) {
  await ownInstance(core.db, userId, instanceId)
  const end = END_STATUSES.find((s) => s === status)
  if (!end) throw new BadRequest('Status update not supported', 'status')
  await endSession(core, userId, instanceId, end)
  return describeInstance(core, userId, instanceId)
}

/** The user's most recently active live instance of this agent type, or null. */
export async function latestLiveInstance(
  db: DbOrTx,
  userId: string,
  agentType: string,
): Promise<string | null> {
  const [recent] = await db
    .select({ id: agentInstances.id })
    .from(agentInstances)
    .innerJoin(agentTypes, eq(agentTypes.id, agentInstances.agentTypeId))
    .where(
      and(
        eq(agentInstances.userId, userId),
        inArray(agentInstances.status, [...LIVE_STATUSES]),
        eq(agentTypes.name, normalizeAgentType(agentType)),
      ),
    )
    .orderBy(desc(agentInstances.lastActivityAt))
    .limit(1)
  return recent?.id ?? null
}
