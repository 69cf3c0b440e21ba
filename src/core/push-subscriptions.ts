// Browsers subscribed to web push, per user and device. A subscription is a chat like any other to
// the outbox: saving one links the channel 'push' with the subscription's id as target, so
// deliveries, prefs and the answered-copy edits work unchanged; removing one unlinks it.
import { and, asc, eq, sql } from 'drizzle-orm'
import { type Db, resultRows } from '../db/client.ts'
import { pushSubscriptions } from '../db/schema.ts'
import { InvalidInput } from '../errors.ts'
import { quietNowSql } from './deliveries.ts'
import { attachChat, unlink } from './links.ts'

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
 * Saves the browser's subscription for the user (a browser that subscribed before, maybe for
 * someone else, is moved to this user with its new keys) and links it for delivery. Returns its id.
 */
export async function savePushSubscription(
  db: Db,
  userId: string,
  sub: PushSubscriptionInput,
  device: string,
): Promise<string> {
  const values = { userId, endpoint: sub.endpoint, p256dh: sub.keys.p256dh, auth: sub.keys.auth, device }
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(pushSubscriptions)
      .values(values)
      .onConflictDoUpdate({ target: pushSubscriptions.endpoint, set: values })
      .returning({ id: pushSubscriptions.id })
    await attachChat(tx, userId, { channel: PUSH, target: row!.id })
    return row!.id
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
  const gone = await db.delete(pushSubscriptions).where(where).returning({ id: pushSubscriptions.id })
  for (const g of gone) await unlink(db, { channel: PUSH, target: g.id })
  return gone.length > 0
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

/** What sending to a subscription needs: its keys, its user, and whether their quiet hours are on now. */
export type PushTarget = PushSubscriptionInput & { id: string; userId: string; quiet: boolean }

export async function pushTarget(db: Db, id: string): Promise<PushTarget | null> {
  const [r] = resultRows<{
    id: string
    user_id: string
    endpoint: string
    p256dh: string
    auth: string
    quiet: boolean
  }>(
    await db.execute(sql`
      select s.id, s.user_id, s.endpoint, s.p256dh, s.auth, ${quietNowSql(sql`u.notification_prefs`)} as quiet
      from push_subscriptions s join users u on u.id = s.user_id
      where s.id = ${id}`),
  )
  if (!r) return null
  return {
    id: r.id,
    userId: r.user_id,
    endpoint: r.endpoint,
    keys: { p256dh: r.p256dh, auth: r.auth },
    quiet: r.quiet,
  }
}
