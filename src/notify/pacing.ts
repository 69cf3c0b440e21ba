// Pacing and backoff for the outbox. Chat APIs throttle per chat and per bot (Telegram: about one
// message a second per chat, 30 a second overall); sending at the pace they allow is faster than
// sending as fast as possible and being told to wait. Kept in memory per process: each process
// paces what it claimed, and the database decides who claims what.

/** Hands out send times: at most `perSecond` per channel, one per `perTargetMs` per target. */
export class Pacer {
  private channelNext = 0
  private readonly targetNext = new Map<string, number>()
  private readonly started = new Map<string, number>()
  private channelStarted = Number.NEGATIVE_INFINITY
  /** Until when the API asked the whole channel to wait (a per-bot 429). */
  private channelHeld = 0
  private readonly interval: number

  constructor(
    private readonly pacing: { perTargetMs: number; perSecond: number },
    private readonly now: () => number = Date.now,
  ) {
    this.interval = pacing.perSecond > 0 ? 1000 / pacing.perSecond : 0
  }

  /** When a send to `target` could start, if booked now. */
  earliest(target: string): number {
    return Math.max(this.now(), this.channelNext, this.channelHeld, this.targetNext.get(target) ?? 0)
  }

  /** Books the earliest slot for `target` and returns it. */
  book(target: string): number {
    const at = this.earliest(target)
    this.channelNext = at + this.interval
    this.targetNext.set(target, at + this.pacing.perTargetMs)
    this.forgetPast()
    return at
  }

  /**
   * Waits until a send to `target` may start, judged by when earlier sends really started, and
   * records this one. Booked slots are exact, but reading a job takes a varying time, so two
   * sends booked a slot apart could otherwise reach the API closer together than allowed.
   */
  async admit(target: string): Promise<void> {
    for (;;) {
      const now = this.now()
      const at = Math.max(
        (this.started.get(target) ?? Number.NEGATIVE_INFINITY) + this.pacing.perTargetMs,
        this.channelStarted + this.interval,
        this.channelHeld,
      )
      if (at <= now) break
      await Bun.sleep(at - now)
    }
    this.channelStarted = this.now()
    this.started.set(target, this.channelStarted)
  }

  /** The API asked us to wait (429 retry_after): nothing more for this target before then. */
  holdTarget(target: string, untilMs: number): void {
    this.targetNext.set(target, Math.max(this.targetNext.get(target) ?? 0, untilMs))
  }

  /** The API asked the whole channel to wait (a per-bot 429): no send to any target before then. */
  holdChannel(untilMs: number): void {
    this.channelHeld = Math.max(this.channelHeld, untilMs)
  }

  /** When the channel may send again, if it is held past `horizon`; null otherwise. */
  heldPast(horizon: number): number | null {
    return this.channelHeld > horizon ? this.channelHeld : null
  }

  /** Targets that cannot take a send before `horizon`, with when they can. */
  *coolingTargets(horizon: number): Iterable<[string, number]> {
    for (const [target, at] of this.targetNext) if (at > horizon) yield [target, at]
  }

  private forgetPast(): void {
    if (this.targetNext.size < 10_000) return
    const now = this.now()
    for (const [k, v] of this.targetNext) if (v < now) this.targetNext.delete(k)
    for (const [k, v] of this.started) if (v + this.pacing.perTargetMs < now) this.started.delete(k)
  }
}

export type Backoff = { baseMs: number; maxMs: number; maxAttempts: number }

/** Defaults: 1 s, 2 s, 4 s … capped at 10 minutes; a job gives up after 12 failed attempts. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 1000, maxMs: 10 * 60_000, maxAttempts: 12 }

/** Delay before attempt `attempts + 1`, with ±20 % jitter so failed jobs do not retry in lockstep. */
export function backoffDelay(b: Backoff, attempts: number): number {
  const raw = Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, attempts - 1))
  return Math.round(raw * (0.8 + Math.random() * 0.4))
}
