// An agent's steps: the progress messages it logged (agent messages that ask nothing). MCP's
// log_step answers with the step number, as Omnara's does.
import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { messages } from '../db/schema.ts'

/** How many steps the instance has logged so far. */
export async function countSteps(db: Db, instanceId: string): Promise<number> {
  const [count] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(messages)
    .where(
      and(
        eq(messages.instanceId, instanceId),
        eq(messages.sender, 'AGENT'),
        eq(messages.requiresUserInput, false),
      ),
    )
  return count?.n ?? 0
}
