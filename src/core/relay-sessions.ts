// A terminal relayed through /relay/agent belongs to an agent instance like any other agent's
// work: the socket's first moment creates the instance if it is new (as a first message does),
// refuses someone else's, brings a DISCONNECTED one back, and marks it as having a terminal so the
// dashboard knows to show one. With several machines (Fly), relay_holders says which machine holds
// each agent socket, so that viewers can be sent there.
import { and, eq, ne, sql } from 'drizzle-orm'
import { agentInstances, relayHolders } from '../db/schema.ts'
import type { Core } from './context.ts'
import { createInstanceIfNew, heartbeat, instanceNotFound, reopenSession } from './instances.ts'
import { hasEnded } from './statuses.ts'

/** The agent type of an instance first seen through the relay (it can be renamed on the dashboard). */
export const RELAY_AGENT_TYPE = 'terminal'

/** Opens (or reopens) `userId`'s relay session on `instanceId`; 404 when the id is someone else's. */
export async function openRelaySession(core: Core, userId: string, instanceId: string): Promise<void> {
  if (await markRelay(core, userId, instanceId)) return
  const created = await createInstanceIfNew(core, {
    userId,
    instanceId,
    agentType: RELAY_AGENT_TYPE,
    metadata: { relay: true },
  })
  // Taken meanwhile: by this user's other request (fine), or by someone else (404).
  if (!created && !(await markRelay(core, userId, instanceId))) throw instanceNotFound()
}

/**
 * Marks the user's existing instance as relayed and counts the socket as a heartbeat. A socket for
 * an ended session is the agent coming back (`parley run --session`): it is live again, as at a
 * hook SessionStart; a live one keeps its status (an open question stays AWAITING_INPUT).
 */
async function markRelay(core: Core, userId: string, instanceId: string): Promise<boolean> {
  const [row] = await core.db
    .update(agentInstances)
    .set({ metadata: sql`coalesce(${agentInstances.metadata}, '{}'::jsonb) || '{"relay": true}'::jsonb` })
    .where(
      and(
        eq(agentInstances.id, instanceId),
        eq(agentInstances.userId, userId),
        ne(agentInstances.status, 'DELETED'),
      ),
    )
    .returning({ status: agentInstances.status })
  if (!row) return false
  if (hasEnded(row.status)) await reopenSession(core, userId, instanceId)
  else await heartbeat(core, userId, instanceId)
  return true
}

/** Whether an instance has (or had) a relayed terminal. */
export const hasRelaySql = sql<boolean>`coalesce((${agentInstances.metadata} ->> 'relay')::boolean, false)`

/** Records that `machineId` now holds the instance's agent socket (the latest socket wins). */
export async function holdRelay(
  core: Core,
  input: { userId: string; instanceId: string; machineId: string },
) {
  await core.db
    .insert(relayHolders)
    .values(input)
    .onConflictDoUpdate({
      target: relayHolders.instanceId,
      set: { userId: input.userId, machineId: input.machineId, connectedAt: sql`now()` },
    })
}

/** The agent socket on `machineId` closed; a newer socket held elsewhere keeps its row. */
export async function releaseRelay(core: Core, instanceId: string, machineId: string) {
  await core.db
    .delete(relayHolders)
    .where(and(eq(relayHolders.instanceId, instanceId), eq(relayHolders.machineId, machineId)))
}

/** A machine starting holds no socket yet: whatever it held before it stopped is gone. */
export async function releaseMachine(core: Core, machineId: string) {
  await core.db.delete(relayHolders).where(eq(relayHolders.machineId, machineId))
}

/** The machine holding the instance's agent socket, or null when none does. */
export async function relayHolder(core: Core, instanceId: string): Promise<string | null> {
  const [row] = await core.db
    .select({ machineId: relayHolders.machineId })
    .from(relayHolders)
    .where(eq(relayHolders.instanceId, instanceId))
  return row?.machineId ?? null
}
