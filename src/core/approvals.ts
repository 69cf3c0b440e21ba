// "Allow for the rest of this session": a tool approval remembered per instance, in
// agent_instances.metadata.approved (a list of keys), so it survives restarts and holds on every
// machine. One rule for every way an agent asks: MCP `approve` and the agent hooks.
import { and, eq, sql } from 'drizzle-orm'
import { agentInstances } from '../db/schema.ts'
import type { Core } from './context.ts'

/** What an approval covers: a Bash command by its program (first word), any other tool by name. */
export function approvalKey(tool: string, input: Record<string, unknown>): string {
  if (tool !== 'Bash') return tool
  const command = typeof input.command === 'string' ? input.command : ''
  return command.trim().split(/\s+/)[0] ?? ''
}

/** Whether `key` was allowed for the rest of the session (an empty key never is). */
export async function isRemembered(core: Core, userId: string, instanceId: string, key: string) {
  if (!key) return false
  const [row] = await core.db
    .select({ hit: sql<boolean>`coalesce(${agentInstances.metadata}->'approved', '[]'::jsonb) ? ${key}` })
    .from(agentInstances)
    .where(and(eq(agentInstances.id, instanceId), eq(agentInstances.userId, userId)))
  return row?.hit === true
}

export async function rememberApproval(core: Core, userId: string, instanceId: string, key: string) {
  if (!key) return
  await core.db
    .update(agentInstances)
    .set({
      metadata: sql`jsonb_set(coalesce(${agentInstances.metadata}, '{}'::jsonb), '{approved}',
        coalesce(${agentInstances.metadata}->'approved', '[]'::jsonb) || to_jsonb(${key}::text))`,
    })
    .where(
      and(
        eq(agentInstances.id, instanceId),
        eq(agentInstances.userId, userId),
        sql`not coalesce(${agentInstances.metadata}->'approved', '[]'::jsonb) ? ${key}`,
      ),
    )
}
