// "Approve for the rest of the session": the Bash command prefixes and tool names a person allowed
// for one instance, kept in agent_instances.metadata.approved so the choice survives restarts and
// holds on every machine; and which instance a permission prompt without an id belongs to.
import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { agentInstances, agentTypes } from '../db/schema.ts'
import { LIVE_STATUSES } from './statuses.ts'

/** The user's most recently active live instance of this agent type, or null. */
export async function latestLiveInstance(db: Db, userId: string, agentType: string): Promise<string | null> {
  const [recent] = await db
    .select({ id: agentInstances.id })
    .from(agentInstances)
    .innerJoin(agentTypes, eq(agentTypes.id, agentInstances.agentTypeId))
    .where(
      and(
        eq(agentInstances.userId, userId),
        inArray(agentInstances.status, [...LIVE_STATUSES]),
        eq(agentTypes.name, agentType.trim().toLowerCase()),
      ),
    )
    .orderBy(desc(agentInstances.lastActivityAt))
    .limit(1)
  return recent?.id ?? null
}

/** What the owner approved for the rest of this instance's session (empty when not theirs). */
export async function sessionApprovals(db: Db, instanceId: string, userId: string): Promise<string[]> {
  const [row] = await db
    .select({ metadata: agentInstances.metadata })
    .from(agentInstances)
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
  return ((row?.metadata as { approved?: string[] } | null)?.approved ?? []) as string[]
}

/** Remembers one approval (a Bash command prefix or a tool name) for the rest of the session. */
export async function rememberApproval(db: Db, instanceId: string, key: string): Promise<void> {
  await db
    .update(agentInstances)
    .set({
      metadata: sql`jsonb_set(coalesce(${agentInstances.metadata}, '{}'::jsonb), '{approved}',
        coalesce(${agentInstances.metadata}->'approved', '[]'::jsonb) || to_jsonb(${key}::text))`,
    })
    .where(eq(agentInstances.id, instanceId))
}
