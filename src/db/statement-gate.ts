// Keeps answers ahead of agent traffic on a busy Postgres pool. postgres.js sends a statement at
// once, pipelined on a busy connection behind whatever that connection already carries; with a
// few hundred agents posting steps, an answer waited behind some twenty of them per connection.
// The gate caps the statements in flight: past the cap, ordinary statements wait here in order,
// while urgent ones (an answer and the reads that deliver it) go ahead of them, up to twice the
// cap. Below the cap, which is the usual case, nothing waits.

/**
 * A statement holds its slot at most this long. One caught on a killed connection may never
 * settle (docs/RELIABILITY.md, "The database driver"); without a limit, each would shrink the
 * cap for good, and enough of them would hold every later statement here.
 */
export const SLOT_TIME_LIMIT_MS = 10_000

type Slot = { since: number; freed: boolean }

export class StatementGate {
  private inFlight = 0
  private readonly urgentWaiting: (() => void)[] = []
  private readonly waiting: (() => void)[] = []
  /** Slots held, oldest first. */
  private readonly slots = new Set<Slot>()
  private expiry: ReturnType<typeof setTimeout> | null = null

  constructor(
    readonly limit: number,
    private readonly slotTimeLimitMs = SLOT_TIME_LIMIT_MS,
  ) {}

  /** Runs `send` once a slot is free, and frees the slot when it settles (or after the time limit). */
  async run<T>(urgent: boolean, send: () => PromiseLike<T>): Promise<T> {
    if (this.inFlight < (urgent ? 2 * this.limit : this.limit)) this.inFlight++
    else {
      // The slot is handed over by free(): the count already includes this statement.
      const waiters = urgent ? this.urgentWaiting : this.waiting
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        this.expireLater()
      })
    }
    const slot: Slot = { since: performance.now(), freed: false }
    this.slots.add(slot)
    // Handed a slot by the expiry, this one may be the first to hold one again: it times the next.
    if (this.urgentWaiting.length + this.waiting.length > 0) this.expireLater()
    try {
      return await send()
    } finally {
      this.free(slot)
    }
  }

  /** Statements holding a slot, and statements waiting for one. */
  load(): { inFlight: number; waiting: number } {
    return { inFlight: this.inFlight, waiting: this.urgentWaiting.length + this.waiting.length }
  }

  private free(slot: Slot) {
    if (slot.freed) return
    slot.freed = true
    this.slots.delete(slot)
    // Urgent statements never hold more than twice the cap: an urgent waiter can always go.
    const next =
      this.urgentWaiting.shift() ?? (this.inFlight <= this.limit ? this.waiting.shift() : undefined)
    if (next) next()
    else this.inFlight--
  }

  /** While statements wait, frees slots held past the time limit, oldest first. */
  private expireLater() {
    if (this.expiry) return
    const oldest = this.slots.values().next().value
    if (!oldest) return
    const delay = Math.max(0, oldest.since + this.slotTimeLimitMs - performance.now())
    this.expiry = setTimeout(() => {
      this.expiry = null
      const now = performance.now()
      for (const slot of this.slots) {
        if (now - slot.since < this.slotTimeLimitMs) break
        this.free(slot)
      }
      if (this.urgentWaiting.length + this.waiting.length > 0) this.expireLater()
    }, delay)
    this.expiry.unref?.()
  }
}
