// Group commit for the outbox's results: items handed in while a write runs are written together
// by the next one. A hundred pushes finishing within a few milliseconds of each other become a
// handful of statements instead of a hundred, which is most of what sending them cost.

type Waiting<T, R> = { item: T; resolve: (result: R) => void; reject: (err: unknown) => void }

/**
 * How long a write may hold the next one back. A write caught on a killed connection may never
 * settle: its own items wait with it (as a single write would), but later items do not.
 */
export const WRITE_PATIENCE_MS = 5000

export class Batched<T, R> {
  private queued: Waiting<T, R>[] = []
  private writing = false

  /** `write` gets every item queued since the last write began; each caller gets its result. */
  constructor(
    private readonly write: (items: T[]) => Promise<R>,
    private readonly patienceMs = WRITE_PATIENCE_MS,
  ) {}

  /** Queues `item`; settles with the result (or the failure) of the write that took it. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ item, resolve, reject })
      if (!this.writing) void this.drain()
    })
  }

  private async drain(): Promise<void> {
    this.writing = true
    while (this.queued.length > 0) {
      const batch = this.queued
      this.queued = []
      const written = Promise.resolve()
        .then(() => this.write(batch.map((w) => w.item)))
        .then(
          (result) => {
            for (const w of batch) w.resolve(result)
          },
          (err) => {
            for (const w of batch) w.reject(err)
          },
        )
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([written, new Promise<void>((r) => (timer = setTimeout(r, this.patienceMs)))])
      clearTimeout(timer)
    }
    this.writing = false
  }
}
