// Slows down guessing. Failures are counted per key (an email, a client address); past a limit
// each further failure locks that key for a growing time (1 s, 2 s, 4 s … capped), during which
// tries are answered 429 without being checked. Log-ins count per email and per address; API keys
// (src/agents/auth.ts) per address. Counts are kept in memory, per process: a restart forgets
// them and several machines each keep their own. That is enough to turn a fast online guess into
// a slow one; it is not an account lock.

export type ThrottleOptions = { perEmail: number; perIp: number; windowMs: number; maxLockMs: number }

const DEFAULTS: ThrottleOptions = { perEmail: 5, perIp: 30, windowMs: 15 * 60_000, maxLockMs: 15 * 60_000 }
const MAX_ENTRIES = 50_000

type Entry = { failures: number; lastAt: number; lockedUntil: number }

/** Failure counts with exponential locks, by key; the one rule every guess throttle uses. */
export class FailureThrottle {
  private readonly entries = new Map<string, Entry>()

  constructor(
    private readonly opts: Pick<ThrottleOptions, 'windowMs' | 'maxLockMs'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds before any of these keys may try again; 0 when a try is allowed now. */
  retryAfterMs(...keys: string[]): number {
    const now = this.now()
    return Math.max(0, ...keys.map((key) => (this.entries.get(key)?.lockedUntil ?? 0) - now))
  }

  /** Counts a failure of `key`; from the `limit`-th within the window on, the key is locked. */
  recordFailure(key: string, limit: number): void {
    const now = this.now()
    let entry = this.entries.get(key)
    if (!entry || now - entry.lastAt > this.opts.windowMs)
      entry = { failures: 0, lastAt: now, lockedUntil: 0 }
    entry.failures++
    entry.lastAt = now
    if (entry.failures >= limit) {
      const lock = Math.min(1000 * 2 ** (entry.failures - limit), this.opts.maxLockMs)
      entry.lockedUntil = now + lock
    }
    this.entries.delete(key)
    this.entries.set(key, entry)
    if (this.entries.size > MAX_ENTRIES) this.prune(now)
  }

  forget(key: string): void {
    this.entries.delete(key)
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= MAX_ENTRIES / 2) break
      if (now - entry.lastAt > this.opts.windowMs || entry.lockedUntil <= now) this.entries.delete(key)
    }
  }
}

export class LoginThrottle {
  private readonly failures: FailureThrottle
  private readonly opts: ThrottleOptions

  constructor(opts: Partial<ThrottleOptions> = {}, now: () => number = Date.now) {
    this.opts = { ...DEFAULTS, ...opts }
    this.failures = new FailureThrottle(this.opts, now)
  }

  /** Milliseconds before this email or address may try again; 0 when a try is allowed now. */
  retryAfterMs(email: string, ip: string): number {
    return this.failures.retryAfterMs(`email:${email}`, `ip:${ip}`)
  }

  recordFailure(email: string, ip: string): void {
    this.failures.recordFailure(`email:${email}`, this.opts.perEmail)
    this.failures.recordFailure(`ip:${ip}`, this.opts.perIp)
  }

  /** A correct password clears the email's count (the address keeps its own). */
  recordSuccess(email: string): void {
    this.failures.forget(`email:${email}`)
  }
}
