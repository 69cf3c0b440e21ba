// Steering: what a person sends while a hook agent works reaches it at its next Stop, once. The
// instance's read cursor marks what the agent has been handed; taking moves it with the same
// compare-and-set as GET /messages/pending, so two Stops never hand over the same message.
// Answers to hook questions (already returned by their hook) and prompts typed at the terminal
// (the agent has them) move the cursor too but are not handed over again.
import { and, eq, inArray, isNull, or, sql } from 'drizzle-orm'
import { agentInstances, messages } from '../../db/schema.ts'
import { type Core, newMessageId } from '../context.ts'
import { instanceCursor } from '../instances.ts'
import { userMessagesAfter } from '../messages.ts'
import { readPending } from '../pending.ts'
import { type HookSession, TERMINAL } from './session.ts'

/** The read cursor, started now for an instance made outside the hooks. */
async function hookCursor(core: Core, s: HookSession): Promise<string | null> {
  const cursor = await instanceCursor(core.db, s.userId, s.instanceId)
  if (cursor !== null) return cursor
  await core.db
    .update(agentInstances)
    .set({ lastReadMessageId: newMessageId() })
    .where(and(eq(agentInstances.id, s.instanceId), isNull(agentInstances.lastReadMessageId)))
  return instanceCursor(core.db, s.userId, s.instanceId)
}

/** Of these user messages, the ones to hand over: not an answer, not typed at the terminal. */
async function toHandOver(core: Core, s: HookSession, found: { id: string; content: string }[]) {
  if (found.length === 0) return []
  const handled = await core.db
    .select({ id: messages.id })
    .from(messages)
    .where(
      and(
        inArray(
          messages.id,
          found.map((m) => m.id),
        ),
        or(
          eq(messages.channel, TERMINAL),
          sql`exists (select 1 from messages q where q.instance_id = ${s.instanceId}
            and q.answer_message_id = ${messages.id})`,
        ),
      ),
    )
  const skip = new Set(handled.map((h) => h.id))
  return found.filter((m) => !skip.has(m.id)).map((m) => m.content)
}

/** What the next take would hand over, leaving the cursor where it is. */
export async function peekSteering(core: Core, s: HookSession): Promise<string[]> {
  const cursor = await hookCursor(core, s)
  if (cursor === null) return []
  return toHandOver(core, s, await userMessagesAfter(core.db, s.instanceId, cursor, s.userId))
}

/**
 * The user messages not yet handed to the agent, oldest first; the cursor moves past them. Call
 * it last, once everything else the Stop writes is written: what it returns counts as delivered.
 */
export async function takeSteering(core: Core, s: HookSession): Promise<string[]> {
  const cursor = await hookCursor(core, s)
  if (cursor === null) return []
  const { messages: found } = await readPending(core, s.userId, s.instanceId, cursor)
  return toHandOver(core, s, found)
}

/** The Stop hook's reason: the person's messages, as instructions to continue with. */
export function steeringReason(texts: string[]): string {
  const intro =
    texts.length === 1
      ? 'The user sent you this message through Parley while you worked:'
      : 'The user sent you these messages through Parley while you worked, oldest first:'
  return `${intro}\n\n${texts.join('\n\n---\n\n')}`
}
