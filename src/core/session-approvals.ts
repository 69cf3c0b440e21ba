// "Approve for the rest of the session": the Bash command prefixes and tool names a person allowed
// for one instance, kept in agent_instances.metadata.approved so the choice survives restarts and
// holds on every machine. One rule for every way an agent asks: MCP `approve` and the agent hooks.
import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { agentInstances } from '../db/schema.ts'

/** What an approval covers: a Bash command by its program (first word), any other tool by name. */
export function approvalKey(tool: string, input: Record<string, unknown>): string {
  if (tool !== 'Bash') return tool
  const command = typeof input.command === 'string' ? input.command : ''
  return command.trim().split(/\s+/)[0] ?? ''
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
