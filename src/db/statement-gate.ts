// Keeps answers ahead of agent traffic on a busy Postgres pool. postgres.js sends a statement at
// once, pipelined on a busy connection behind whatever that connection already carries; with a
// few hundred agents posting steps, an answer waited behind some twenty of them per connection.
// The gate caps the statements in flight: past the cap, ordinary statements wait here in order,
// while urgent ones (an answer and the read that delivers it) are sent at once and find short
// pipelines. Below the cap, which is the usual case, nothing waits.

export class StatementGate {
  private inFlight = 0
  private readonly waiting: (() => void)[] = []

  constructor(readonly limit: number) {}

  /** Runs `send` once a slot is free (urgent: at once), and frees the slot when it settles. */
  async run<T>(urgent: boolean, send: () => PromiseLike<T>): Promise<T> {
    if (urgent || this.inFlight < this.limit) this.inFlight++
    // The slot is handed over by release(): the count already includes this statement.
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    try {
      return await send()
    } finally {
      this.release()
    }
  }

  /** Statements sent and not yet settled, and statements waiting for a slot. */
  load(): { inFlight: number; waiting: number } {
    return { inFlight: this.inFlight, waiting: this.waiting.length }
  }

  private release() {
    // Urgent statements may have pushed the count past the cap: a waiter goes only below it.
    const next = this.inFlight <= this.limit ? this.waiting.shift() : undefined
    if (next) next()
    else this.inFlight--
  }
}
