// A hook session is an agent instance: its id is the hook's session_id (a UUID as is, any other
// string mapped to a stable UUID per user), named after its working directory, created by the first event
// of any kind (Claude Code sends SessionStart only to command hooks). Someone else's session is 404.
import { eq, sql } from 'drizzle-orm'
import { agentInstances, messages } from '../../db/schema.ts'
import { publishAll } from '../../events/bus.ts'
import { type Core, newMessageId, newMessageIdAfter } from '../context.ts'
import { createInstanceIfNew, instanceNotFound, reopenSession } from '../instances.ts'
import { idFloorSql } from '../one-statement.ts'
import { statusAfterSql } from '../statuses.ts'
import { canonicalUuid } from '../wire.ts'
import type { HookAgent, HookPayload } from './payload.ts'

/** Namespace of the name-based ids (RFC 9562 UUIDv5 layout, SHA-1). */
const SESSION_NAMESPACE = 'a4f1c9e2-5b7d-4c3a-9e8f-0d2b6c1a7e53'

function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex')
  const bytes = new Bun.CryptoHasher('sha1').update(Buffer.concat([ns, Buffer.from(name)])).digest()
  bytes[6] = (bytes[6]! & 0x0f) | 0x50
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  return canonicalUuid(bytes.subarray(0, 16).toString('hex'))!
}

/**
 * The instance id of a hook session: a UUID as is (the agents make them at random), any other
 * string a name-based UUID of the user and the string, so one user's key cannot take another
 * user's session id before them.
 */
export const hookInstanceId = (sessionId: string, userId: string): string =>
  canonicalUuid(sessionId) ?? uuidV5(SESSION_NAMESPACE, `${userId}\n${sessionId}`)

/** "project · branch" from the working directory (either slash) and a branch when one was given. */
export function sessionName(cwd: string | null, branch: string | null): string | null {
  const base =
    cwd
      ?.replace(/[\\/]+$/, '')
      .split(/[\\/]/)
      .pop()
      ?.trim() || null
  const b = branch?.trim() || null
  if (!base) return b
  return (b ? `${base} · ${b}` : base).slice(0, 200)
}

export type HookSession = { userId: string; instanceId: string; agent: HookAgent }

/** The caller's instance for this session, created on first sight; 404 when it is someone else's. */
export async function hookSession(
  core: Core,
  userId: string,
  agent: HookAgent,
  payload: HookPayload,
): Promise<HookSession> {
  const instanceId = hookInstanceId(payload.sessionId, userId)
  const owner = async () => {
    const [row] = await core.db
      .select({ userId: agentInstances.userId })
      .from(agentInstances)
      .where(eq(agentInstances.id, instanceId))
    return row?.userId
  }
  let found = await owner()
  if (found === undefined) {
    await createInstanceIfNew(core, {
      userId,
      instanceId,
      agentType: agent,
      name: sessionName(payload.cwd, payload.gitBranch),
      // Hook agents read user messages at Stop only; the cursor starts now.
      lastReadMessageId: newMessageId(),
      metadata: { hook: { agent, session_id: payload.sessionId, cwd: payload.cwd } },
    })
    found = await owner()
  }
  if (found !== userId) throw instanceNotFound()
  return { userId, instanceId, agent }
}

/** SessionStart: the session is live again (a resumed session reopens a completed instance). */
export async function startSession(core: Core, s: HookSession): Promise<void> {
  await reopenSession(core, s.userId, s.instanceId)
}

/**
 * UserPromptSubmit: what the person typed at the terminal, shown as their message. It answers no
 * question and is never handed back to the agent (steering skips the 'terminal' channel).
 */
export async function recordPrompt(core: Core, s: HookSession, prompt: string): Promise<string> {
  const { id, status } = await core.db.transaction(async (tx) => {
    const [inst] = await tx
      .select({ idFloor: idFloorSql })
      .from(agentInstances)
      .where(eq(agentInstances.id, s.instanceId))
      .for('update')
    const messageId = newMessageIdAfter(inst?.idFloor ?? null)
    const [, [row]] = await Promise.all([
      tx.insert(messages).values({
        id: messageId,
        instanceId: s.instanceId,
        userId: s.userId,
        sender: 'USER',
        senderUserId: s.userId,
        content: prompt,
        channel: TERMINAL,
      }),
      tx
        .update(agentInstances)
        .set({
          status: statusAfterSql(agentInstances.status, 'user-message'),
          lastActivityAt: sql`now()`,
          lastHeartbeatAt: sql`now()`,
        })
        .where(eq(agentInstances.id, s.instanceId))
        .returning({ status: agentInstances.status }),
    ])
    return { id: messageId, status: row?.status ?? 'ACTIVE' }
  })
  const { userId, instanceId } = s
  await publishAll(core.bus, [
    { type: 'message.created', userId, instanceId, messageId: id, sender: 'USER', question: false },
    { type: 'instance.updated', userId, instanceId, status },
  ])
  return id
}

/** The channel of prompts typed at the agent's own terminal. */
export const TERMINAL = 'terminal'
