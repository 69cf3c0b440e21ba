// API keys are opaque random tokens ("prl_" + 32 random bytes, base64url). Only their sha256 is
// stored. We chose opaque tokens over signed JWTs because the database decides validity anyway
// (revocation, expiry, a deleted user): a signature would only add length and a second secret
// to rotate, without saving the lookup. Lookups are cached for at most 5 s and revocations clear
// the cache at once through the event bus; last_used_at is written in batches.
import { and, desc, eq, isNull, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { apiKeys, users } from '../db/schema.ts'
import { NotFound } from '../errors.ts'
import type { EventBus } from '../events/bus.ts'
import { log } from '../log.ts'

const KEY_PREFIX = 'prl_'
export const CACHE_MS = 5_000
const FLUSH_MS = 10_000
/** The longest delay setTimeout takes (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1

export const sha256 = (text: string) => new Bun.CryptoHasher('sha256').update(text).digest('hex')

export function generateKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return KEY_PREFIX + Buffer.from(bytes).toString('base64url')
}

export async function createApiKey(
  db: Db,
  input: { userId: string; name: string; expiresAt?: Date | null },
): Promise<{ id: string; key: string }> {
  const key = generateKey()
  const [row] = await db
    .insert(apiKeys)
    .values({
      userId: input.userId,
      name: input.name,
      keyHash: sha256(key),
      keyPrefix: key.slice(0, 12),
      expiresAt: input.expiresAt ?? null,
    })
    .returning({ id: apiKeys.id })
  return { id: row!.id, key }
}

export function listApiKeys(db: Db, userId: string) {
  return db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      prefix: apiKeys.keyPrefix,
      createdAt: apiKeys.createdAt,
      lastUsedAt: apiKeys.lastUsedAt,
      expiresAt: apiKeys.expiresAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .where(eq(apiKeys.userId, userId))
    .orderBy(desc(apiKeys.createdAt))
}

/** Revokes a key (scoped to its owner when `userId` is given) and tells every process at once. */
export async function revokeApiKey(db: Db, bus: EventBus | null, keyId: string, userId?: string) {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())` })
    .where(and(eq(apiKeys.id, keyId), userId ? eq(apiKeys.userId, userId) : undefined))
    .returning({ keyHash: apiKeys.keyHash })
  if (!row) throw new NotFound('API key not found')
  await bus?.publish({ type: 'key.revoked', keyHash: row.keyHash })
}

export type KeyPrincipal = {
  userId: string
  keyId: string
  /** sha256 of the key: what a revocation names (never the key itself). */
  keyHash: string
  email: string
  displayName: string | null
  /** When the key expires (ms since the epoch), or null for never. */
  expiresAt: number | null
}
type CacheEntry = { principal: KeyPrincipal | null; expiresAt: number | null; until: number }

export class KeyVerifier {
  private readonly cache = new Map<string, CacheEntry>()
  private readonly used = new Map<string, Date>()
  private flushTimer: ReturnType<typeof setTimeout> | null = null
  private readonly unsubscribe: () => void
  /** Requests held open with a key (long-polls): aborted when that key is revoked. */
  private readonly held = new Map<string, Set<AbortController>>()

  constructor(
    private readonly db: Db,
    bus: EventBus,
    private readonly now: () => number = Date.now,
  ) {
    this.unsubscribe = bus.subscribe('all', (e) => {
      if (e.type !== 'key.revoked') return
      this.cache.delete(e.keyHash)
      for (const c of this.held.get(e.keyHash) ?? []) c.abort()
      this.held.delete(e.keyHash)
    })
  }

  /**
   * For a request held open with this key: a signal aborted when the key is revoked (on any
   * machine, through the bus) or expires, so the wait ends at once instead of outliving the key.
   * Call `release` when the request ends.
   */
  holdWhileValid(principal: KeyPrincipal): { signal: AbortSignal; release(): void } {
    const controller = new AbortController()
    const set = this.held.get(principal.keyHash) ?? new Set<AbortController>()
    this.held.set(principal.keyHash, set)
    set.add(controller)
    let expiry: ReturnType<typeof setTimeout> | undefined
    const { expiresAt } = principal
    if (expiresAt !== null) {
      // Timers take at most about 24 days: a later expiry is waited for in steps.
      const arm = () => {
        const left = expiresAt - this.now()
        if (left <= 0) return controller.abort()
        expiry = setTimeout(arm, Math.min(left, MAX_TIMER_MS))
        expiry.unref?.()
      }
      arm()
    }
    return {
      signal: controller.signal,
      release: () => {
        clearTimeout(expiry)
        const current = this.held.get(principal.keyHash)
        current?.delete(controller)
        if (current?.size === 0) this.held.delete(principal.keyHash)
      },
    }
  }

  /** The key's owner, or null for an unknown, revoked or expired key. */
  async verify(rawKey: string): Promise<KeyPrincipal | null> {
    const hash = sha256(rawKey)
    const now = this.now()
    let entry = this.cache.get(hash)
    if (!entry || entry.until <= now) {
      entry = await this.load(hash, now)
      this.cache.set(hash, entry)
      if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!)
    }
    if (!entry.principal || (entry.expiresAt !== null && entry.expiresAt <= now)) return null
    this.markUsed(entry.principal.keyId, now)
    return entry.principal
  }

  private async load(hash: string, now: number): Promise<CacheEntry> {
    const [row] = await this.db
      .select({
        keyId: apiKeys.id,
        userId: apiKeys.userId,
        expiresAt: apiKeys.expiresAt,
        email: users.email,
        displayName: users.displayName,
      })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(and(eq(apiKeys.keyHash, hash), isNull(apiKeys.revokedAt)))
    const until = now + CACHE_MS
    if (!row) return { principal: null, expiresAt: null, until }
    const expiresAt = row.expiresAt?.getTime() ?? null
    const principal = { ...row, keyHash: hash, expiresAt }
    return { principal, expiresAt, until }
  }

  private markUsed(keyId: string, now: number) {
    this.used.set(keyId, new Date(now))
    this.flushTimer ??= setTimeout(() => void this.flush(), FLUSH_MS)
  }

  /** Writes the batched last_used_at values: one statement per flush, not one per request. */
  async flush(): Promise<void> {
    this.flushTimer = null
    if (this.used.size === 0) return
    const batch = [...this.used]
    this.used.clear()
    const values = sql.join(
      batch.map(([id, at]) => sql`(${id}::uuid, ${at.toISOString()}::timestamptz)`),
      sql`, `,
    )
    await this.db
      .execute(
        sql`update api_keys set last_used_at = v.at from (values ${values}) as v(id, at)
            where api_keys.id = v.id and (api_keys.last_used_at is null or api_keys.last_used_at < v.at)`,
      )
      .catch((err) => log.error({ err }, 'last_used_at flush failed'))
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer)
    this.unsubscribe()
    await this.flush()
  }
}
