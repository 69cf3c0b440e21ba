// API keys are opaque random tokens ("prl_" + 32 random bytes, base64url). Only their sha256 is
// stored. We chose opaque tokens over signed JWTs because the database decides validity anyway
// (revocation, expiry, a deleted user): a signature would only add length and a second secret
// to rotate, without saving the lookup. Lookups are cached for at most 5 s and revocations clear
// the cache at once through the event bus; last_used_at is written in batches. A key in use is
// looked up again in its cache entry's last second, while the entry still answers, so no request
// waits for the lookup (one lookup per key at a time, however many requests arrive).
//
// Requests held open with a key (long-polls, held hooks, MCP asks) end when the key dies: at its
// expiry time (a timer), and at once when it is revoked, through the bus. A revocation by the CLI
// has no bus of its own: it sends the bus's NOTIFY in SQL, which every server on Postgres hears.
// On PGlite the server's bus is in memory and cannot hear it, so there (and only there: it costs a
// query while requests are held) the held keys are looked up again every HOLD_CHECK_MS.
import { and, desc, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { apiKeys, users } from '../db/schema.ts'
import { NotFound } from '../errors.ts'
import type { EventBus } from '../events/bus.ts'
import { notifyFromOutside } from '../events/postgres.ts'
import { log } from '../log.ts'
import { FailureThrottle } from './login-throttle.ts'

const KEY_PREFIX = 'prl_'
export const CACHE_MS = 5_000
/** A key used this close to its cache entry's end is looked up again in the background. */
export const REFRESH_AHEAD_MS = 1_000
const FLUSH_MS = 10_000
/** With an in-memory bus, how often held requests' keys are looked up again (a dead key ends them within 5 s). */
export const HOLD_CHECK_MS = 2_500
/** setTimeout's limit; a key expiring later than this outlives any held request anyway. */
const MAX_TIMER_MS = 2 ** 31 - 1
/**
 * Bad keys one client address may present before it is slowed down (src/agents/auth.ts). Keys
 * are 256 random bits, so this bounds load and noise rather than odds; the lock is capped at a
 * minute because an agent left running with a revoked key shares its address with good ones.
 */
export const BAD_KEYS_PER_ADDRESS = 30
const BAD_KEY_WINDOW_MS = 15 * 60_000
const BAD_KEY_MAX_LOCK_MS = 60_000

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
  const event = { type: 'key.revoked' as const, keyHash: row.keyHash }
  if (bus) await bus.publish(event)
  else
    await notifyFromOutside(
      (channel, payload) => db.execute(sql`select pg_notify(${channel}, ${payload})`),
      [event],
    )
}

export type KeyPrincipal = {
  userId: string
  keyId: string
  /** sha256 of the key: what a revocation names (never the key itself). */
  keyHash: string
  email: string
  displayName: string | null
  /** When the key expires (ms since the epoch); null when it never does. */
  expiresAt: number | null
}
type CacheEntry = { principal: KeyPrincipal | null; until: number }

export class KeyVerifier {
  private readonly cache = new Map<string, CacheEntry>()
  /** Lookups in flight, by key hash: requests arriving meanwhile share them. */
  private readonly loading = new Map<string, Promise<CacheEntry>>()
  private readonly used = new Map<string, Date>()
  private flushTimer: ReturnType<typeof setTimeout> | null = null
  private readonly unsubscribe: () => void
  /** Requests held open with a key (long-polls): aborted when that key is revoked. */
  private readonly held = new Map<string, Set<AbortController>>()
  /** Per held key with an expiry: ends its requests when it expires. */
  private readonly expiryTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private holdTimer: ReturnType<typeof setInterval> | null = null
  /** Bad keys by client address: guessing is answered 429 after BAD_KEYS_PER_ADDRESS. */
  readonly badKeys: FailureThrottle

  constructor(
    private readonly db: Db,
    bus: EventBus,
    private readonly now: () => number = Date.now,
    /** Recheck held keys this often (only where the bus cannot carry another process's revocation). */
    private readonly recheckHeldMs: number | null = null,
  ) {
    this.badKeys = new FailureThrottle({ windowMs: BAD_KEY_WINDOW_MS, maxLockMs: BAD_KEY_MAX_LOCK_MS }, now)
    this.unsubscribe = bus.subscribe('all', (e) => {
      if (e.type === 'key.revoked') this.ended(e.keyHash)
    })
  }

  /** A key is dead: forget it and end every request held open with it. */
  private ended(keyHash: string): void {
    this.cache.delete(keyHash)
    // A lookup in flight may have read the key before it died: its result is not kept.
    this.loading.delete(keyHash)
    for (const c of this.held.get(keyHash) ?? []) c.abort()
    this.unheld(keyHash)
  }

  /** No request is held with this key any more. */
  private unheld(keyHash: string): void {
    this.held.delete(keyHash)
    clearTimeout(this.expiryTimers.get(keyHash))
    this.expiryTimers.delete(keyHash)
    this.stopHoldChecksIfIdle()
  }

  private stopHoldChecksIfIdle(): void {
    if (this.held.size > 0 || !this.holdTimer) return
    clearInterval(this.holdTimer)
    this.holdTimer = null
  }

  /** Looks up the keys of held requests (one query) and ends those revoked, expired or gone. */
  async recheckHeld(): Promise<void> {
    const hashes = [...this.held.keys()]
    if (hashes.length === 0) return
    const live = await this.db
      .select({ keyHash: apiKeys.keyHash })
      .from(apiKeys)
      .where(
        and(
          inArray(apiKeys.keyHash, hashes),
          isNull(apiKeys.revokedAt),
          or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, sql`now()`)),
        ),
      )
    const alive = new Set(live.map((r) => r.keyHash))
    for (const hash of hashes) if (!alive.has(hash)) this.ended(hash)
  }

  /**
   * For a request held open with this key: a signal aborted when the key is revoked (on any
   * machine, through the bus: at once) or expires, so the wait does not outlive the key.
   * Call `release` when the request ends.
   */
  holdWhileValid(principal: KeyPrincipal): { signal: AbortSignal; release(): void } {
    const controller = new AbortController()
    const { keyHash, expiresAt } = principal
    const set = this.held.get(keyHash) ?? new Set<AbortController>()
    this.held.set(keyHash, set)
    set.add(controller)
    const untilExpiry = expiresAt === null ? null : Math.max(0, expiresAt - this.now())
    if (untilExpiry !== null && untilExpiry < MAX_TIMER_MS && !this.expiryTimers.has(keyHash))
      this.expiryTimers.set(
        keyHash,
        setTimeout(() => this.ended(keyHash), untilExpiry),
      )
    if (this.recheckHeldMs !== null && !this.holdTimer) {
      this.holdTimer = setInterval(() => {
        this.recheckHeld().catch((err) => log.error({ err }, 'held API keys recheck failed'))
      }, this.recheckHeldMs)
      this.holdTimer.unref?.()
    }
    return {
      signal: controller.signal,
      release: () => {
        const current = this.held.get(keyHash)
        current?.delete(controller)
        if (current?.size === 0) this.unheld(keyHash)
      },
    }
  }

  /** The key's owner, or null for an unknown, revoked or expired key. */
  async verify(rawKey: string): Promise<KeyPrincipal | null> {
    const hash = sha256(rawKey)
    const now = this.now()
    let entry = this.cache.get(hash)
    if (!entry || entry.until <= now) entry = await this.lookUp(hash)
    else if (entry.until - now < REFRESH_AHEAD_MS)
      this.lookUp(hash).catch((err) => log.warn({ err }, 'API key lookup ahead of expiry failed'))
    const expiresAt = entry.principal?.expiresAt ?? null
    if (!entry.principal || (expiresAt !== null && expiresAt <= now)) return null
    this.markUsed(entry.principal.keyId, now)
    return entry.principal
  }

  /** Looks the key up and caches the result, or joins the lookup already in flight. */
  private lookUp(hash: string): Promise<CacheEntry> {
    const inFlight = this.loading.get(hash)
    if (inFlight) return inFlight
    const lookup: Promise<CacheEntry> = this.load(hash, this.now()).then(
      (entry) => {
        // The key died meanwhile (only ended() forgets a lookup in flight): neither kept nor
        // granted, or a request joining it could be held open on a revoked key.
        if (this.loading.get(hash) !== lookup) return { principal: null, until: 0 }
        this.loading.delete(hash)
        this.cache.delete(hash) // re-inserted last: the oldest entry is the one evicted
        this.cache.set(hash, entry)
        if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!)
        return entry
      },
      (err) => {
        if (this.loading.get(hash) === lookup) this.loading.delete(hash)
        throw err
      },
    )
    this.loading.set(hash, lookup)
    return lookup
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
    if (!row) return { principal: null, until }
    const principal = { ...row, keyHash: hash, expiresAt: row.expiresAt?.getTime() ?? null }
    return { principal, until }
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
    if (this.holdTimer) clearInterval(this.holdTimer)
    this.holdTimer = null
    for (const timer of this.expiryTimers.values()) clearTimeout(timer)
    this.expiryTimers.clear()
    this.unsubscribe()
    await this.flush()
  }
}
