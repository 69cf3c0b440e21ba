// Browsers subscribed to web push, per user and device. A subscription is a chat like any other to
// the outbox: saving one links the channel 'push' with the subscription's id as target, so
// deliveries, prefs and the answered-copy edits work unchanged; removing one unlinks it.
import { and, asc, desc, eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { pushSubscriptions } from '../db/schema.ts'
import { InvalidInput } from '../errors.ts'
import { attachChat, unlinkChat } from './links.ts'

/** The channel name of web push: answered_via, deliveries.channel, links and prefs. */
export const PUSH = 'push'

/** A browser's PushSubscription, checked. */
export type PushSubscriptionInput = { endpoint: string; keys: { p256dh: string; auth: string } }

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/

const decodedLength = (s: string) => Buffer.from(s, 'base64url').length

/** Checks a browser's PushSubscription JSON; the error names the first bad field. */
export function parsePushSubscription(body: unknown): PushSubscriptionInput {
  const b = (body ?? {}) as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } | null }
  if (typeof b.endpoint !== 'string' || b.endpoint === '')
    throw new InvalidInput('endpoint', 'endpoint is required')
  let url: URL
  try {
    url = new URL(b.endpoint)
  } catch {
    throw new InvalidInput('endpoint', 'endpoint must be a URL')
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || b.endpoint.length > 2000) {
    throw new InvalidInput('endpoint', 'endpoint must be an http(s) URL of at most 2000 characters')
  }
  const { p256dh, auth } = b.keys ?? {}
  // An uncompressed P-256 point is 65 bytes; the auth secret 16 (RFC 8291).
  if (typeof p256dh !== 'string' || !BASE64URL.test(p256dh) || decodedLength(p256dh) !== 65) {
    throw new InvalidInput('keys.p256dh', 'keys.p256dh must be a base64url P-256 public key (65 bytes)')
  }
  if (typeof auth !== 'string' || !BASE64URL.test(auth) || decodedLength(auth) !== 16) {
    throw new InvalidInput('keys.auth', 'keys.auth must be a base64url secret of 16 bytes')
  }
  return { endpoint: b.endpoint, keys: { p256dh, auth } }
}

/**
 * Saves the browser's subscription for the user and links it for delivery; returns its id. A
 * browser subscribing again with the same keys keeps its id; with new keys, or for someone else,
 * it is a new subscription (the old one and what was waiting for it are dropped), so an id always
 * names the same keys and the adapter may keep them in memory.
 */
export async function savePushSubscription(
  db: Db,
  userId: string,
  sub: PushSubscriptionInput,
  device: string,
): Promise<string> {
  const { endpoint, keys } = sub
  return db.transaction(async (tx) => {
    const [same] = await tx
      .update(pushSubscriptions)
      .set({ device })
      .where(
        and(
          eq(pushSubscriptions.endpoint, endpoint),
          eq(pushSubscriptions.userId, userId),
          eq(pushSubscriptions.p256dh, keys.p256dh),
          eq(pushSubscriptions.auth, keys.auth),
        ),
      )
      .returning({ id: pushSubscriptions.id })
    if (!same) {
      const old = await tx
        .delete(pushSubscriptions)
        .where(eq(pushSubscriptions.endpoint, endpoint))
        .returning({ id: pushSubscriptions.id })
      for (const o of old) await unlinkChat(tx, { channel: PUSH, target: o.id })
    }
    const id =
      same?.id ??
      (
        await tx
          .insert(pushSubscriptions)
          .values({ userId, endpoint, p256dh: keys.p256dh, auth: keys.auth, device })
          .returning({ id: pushSubscriptions.id })
      )[0]!.id
    await attachChat(tx, userId, { channel: PUSH, target: id })
    return id
  })
}

/**
 * Removes a subscription, named by its owner and id or endpoint (the settings page, the browser),
 * or by id alone (the push service said it is gone). Copies waiting for it are never sent.
 */
export async function removePushSubscription(
  db: Db,
  which: { userId?: string; id?: string; endpoint?: string },
): Promise<boolean> {
  const where = and(
    which.userId ? eq(pushSubscriptions.userId, which.userId) : undefined,
    which.id ? eq(pushSubscriptions.id, which.id) : undefined,
    which.endpoint ? eq(pushSubscriptions.endpoint, which.endpoint) : undefined,
  )
  if (!which.id && !which.endpoint) return false
  return db.transaction(async (tx) => {
    const gone = await tx.delete(pushSubscriptions).where(where).returning({ id: pushSubscriptions.id })
    for (const g of gone) await unlinkChat(tx, { channel: PUSH, target: g.id })
    return gone.length > 0
  })
}

/** A person's subscribed devices, oldest first, for the settings page. */
export function listPushSubscriptions(db: Db, userId: string) {
  return db
    .select({
      id: pushSubscriptions.id,
      endpoint: pushSubscriptions.endpoint,
      device: pushSubscriptions.device,
      createdAt: pushSubscriptions.createdAt,
    })
    .from(pushSubscriptions)
    .where(eq(pushSubscriptions.userId, userId))
    .orderBy(asc(pushSubscriptions.createdAt))
}

/** What sending to a subscription needs: its keys and its user. An id always names the same keys. */
export type PushTarget = PushSubscriptionInput & { id: string; userId: string }

export async function pushTarget(db: Db, id: string): Promise<PushTarget | null> {
  const [r] = await db.select().from(pushSubscriptions).where(eq(pushSubscriptions.id, id))
  return r ? asTarget(r) : null
}

/** The `limit` newest subscriptions, as targets: what a server just started will push to first. */
export async function newestPushTargets(db: Db, limit: number): Promise<PushTarget[]> {
  const rows = await db
    .select()
    .from(pushSubscriptions)
    .orderBy(desc(pushSubscriptions.createdAt))
    .limit(limit)
  return rows.map(asTarget)
}

const asTarget = (r: typeof pushSubscriptions.$inferSelect): PushTarget => ({
  id: r.id,
  userId: r.userId,
  endpoint: r.endpoint,
  keys: { p256dh: r.p256dh, auth: r.auth },
})
