// Slows down password guessing. Failed logins are counted per email and per client address;
// past a few failures each further one locks that email (or address) for a growing time
// (1 s, 2 s, 4 s … capped), during which logins are answered 429 without checking the password.
// Counts are kept in memory, per process: a restart forgets them and several machines each keep
// their own. That is enough to turn a fast online guess into a slow one; it is not an account lock.

export type ThrottleOptions = { perEmail: number; perIp: number; windowMs: number; maxLockMs: number }

const DEFAULTS: ThrottleOptions = { perEmail: 5, perIp: 30, windowMs: 15 * 60_000, maxLockMs: 15 * 60_000 }
const MAX_ENTRIES = 50_000

type Entry = { failures: number; lastAt: number; lockedUntil: number }

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>()
  private readonly opts: ThrottleOptions

  constructor(
    opts: Partial<ThrottleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { ...DEFAULTS, ...opts }
  }

  /** Milliseconds before this email or address may try again; 0 when a try is allowed now. */
  retryAfterMs(email: string, ip: string): number {
    const now = this.now()
    const wait = (key: string) => Math.max(0, (this.entries.get(key)?.lockedUntil ?? 0) - now)
    return Math.max(wait(`email:${email}`), wait(`ip:${ip}`))
  }

  recordFailure(email: string, ip: string): void {
    this.bump(`email:${email}`, this.opts.perEmail)
    this.bump(`ip:${ip}`, this.opts.perIp)
  }

  /** A correct password clears the email's count (the address keeps its own). */
  recordSuccess(email: string): void {
    this.entries.delete(`email:${email}`)
  }

  private bump(key: string, limit: number): void {
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

  private prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= MAX_ENTRIES / 2) break
      if (now - entry.lastAt > this.opts.windowMs || entry.lockedUntil <= now) this.entries.delete(key)
    }
  }
}
