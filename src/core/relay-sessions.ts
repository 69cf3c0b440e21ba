// A terminal relayed through /relay/agent belongs to an agent instance like any other agent's
// work: the socket's first moment creates the instance if it is new (as a first message does),
// refuses someone else's, brings a DISCONNECTED one back, and marks it as having a terminal so the
// dashboard knows to show one.
import { and, eq, ne, sql } from 'drizzle-orm'
import { agentInstances } from '../db/schema.ts'
import { NotFound } from '../errors.ts'
import type { Core } from './context.ts'
import { createInstanceIfNew, heartbeat } from './instances.ts'

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
  if (!created && !(await markRelay(core, userId, instanceId))) throw new NotFound('Agent instance not found')
}

/** Marks the user's existing instance as relayed and counts the socket as a heartbeat. */
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
    .returning({ id: agentInstances.id })
  if (!row) return false
  await heartbeat(core, userId, instanceId)
  return true
}

/** Whether an instance has (or had) a relayed terminal. */
export const hasRelaySql = sql<boolean>`coalesce((${agentInstances.metadata} ->> 'relay')::boolean, false)`
