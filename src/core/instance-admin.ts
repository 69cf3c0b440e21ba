// What an instance's owner may do to it from the dashboard: rename, mark complete, soft-delete,
// and share it with another Parley user for READ or WRITE. Shared users get 403 here; anyone
// else gets 404, as if the instance did not exist.
import { and, eq, isNotNull, sql } from 'drizzle-orm'
import { agentInstances, instanceAccess, users } from '../db/schema.ts'
import { Forbidden, InvalidInput } from '../errors.ts'
import type { Core } from './context.ts'
import { endSession, publishStatus } from './instances.ts'
import { viewInstance } from './thread.ts'
import { normalizeEmail } from './users.ts'

export const MAX_NAME_CHARS = 200

async function asOwner(core: Core, userId: string, instanceId: string) {
  const inst = await viewInstance(core.db, userId, instanceId)
  if (inst.access !== 'OWNER') throw new Forbidden('Only the owner of this agent instance can change it')
  return inst
}

export async function renameInstance(core: Core, userId: string, instanceId: string, name: string) {
  const trimmed = name.trim()
  if (!trimmed) throw new InvalidInput('name', 'name is required')
  if (trimmed.length > MAX_NAME_CHARS) {
    throw new InvalidInput('name', `name must be at most ${MAX_NAME_CHARS} characters`)
  }
  const inst = await asOwner(core, userId, instanceId)
  await core.db.update(agentInstances).set({ name: trimmed }).where(eq(agentInstances.id, instanceId))
  await publishStatus(core, userId, instanceId, inst.status)
}

export async function completeInstance(core: Core, userId: string, instanceId: string) {
  await asOwner(core, userId, instanceId)
  await endSession(core, userId, instanceId)
}

export async function deleteInstance(core: Core, userId: string, instanceId: string) {
  await asOwner(core, userId, instanceId)
  await core.db
    .update(agentInstances)
    .set({ status: 'DELETED', endedAt: sql`coalesce(${agentInstances.endedAt}, now())` })
    .where(eq(agentInstances.id, instanceId))
  await publishStatus(core, userId, instanceId, 'DELETED')
}

export type ShareAccess = 'READ' | 'WRITE'

export function parseShareAccess(value: string | undefined): ShareAccess {
  const v = value?.trim().toUpperCase()
  if (v !== 'READ' && v !== 'WRITE') throw new InvalidInput('access', 'access must be READ or WRITE')
  return v
}

/** Shares with the user of that email, or changes their access if already shared. */
export async function shareInstance(
  core: Core,
  userId: string,
  instanceId: string,
  input: { email: string; access: ShareAccess },
) {
  const email = normalizeEmail(input.email)
  if (!email) throw new InvalidInput('email', 'email is required')
  const inst = await asOwner(core, userId, instanceId)
  const [target] = await core.db.select({ id: users.id }).from(users).where(eq(users.email, email))
  if (!target) throw new InvalidInput('email', `No Parley user has the email ${email}`)
  if (target.id === userId) throw new InvalidInput('email', 'You already own this agent instance')
  await core.db
    .insert(instanceAccess)
    .values({ instanceId, userId: target.id, email, access: input.access })
    .onConflictDoUpdate({
      target: [instanceAccess.instanceId, instanceAccess.email],
      set: { access: input.access, userId: target.id },
    })
  await publishStatus(core, inst.userId, instanceId, inst.status)
  return { userId: target.id, email, access: input.access }
}

/** Users (by id) who may see the instance besides its owner: live updates go to them too. */
export async function viewersOf(core: Core, instanceId: string): Promise<string[]> {
  const rows = await core.db
    .select({ userId: instanceAccess.userId })
    .from(instanceAccess)
    .where(and(eq(instanceAccess.instanceId, instanceId), isNotNull(instanceAccess.userId)))
  return rows.map((r) => r.userId!)
}

/** People an instance is shared with, for its owner's page. */
export async function sharedWith(core: Core, instanceId: string) {
  return core.db
    .select({ email: instanceAccess.email, access: instanceAccess.access })
    .from(instanceAccess)
    .where(eq(instanceAccess.instanceId, instanceId))
    .orderBy(instanceAccess.email)
}
