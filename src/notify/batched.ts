// Group commit for the outbox's results: items handed in while a write runs are written together
// by the next one. A hundred pushes finishing within a few milliseconds of each other become a
// handful of statements instead of a hundred, which is most of what sending them cost.

type Waiting<T, R> = { item: T; resolve: (result: R) => void; reject: (err: unknown) => void }

export class Batched<T, R> {
  private queued: Waiting<T, R>[] = []
  private writing = false

  /** `write` gets every item queued since the last write began; each caller gets its result. */
  constructor(private readonly write: (items: T[]) => Promise<R>) {}

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
      try {
        const result = await this.write(batch.map((w) => w.item))
        for (const w of batch) w.resolve(result)
      } catch (err) {
        for (const w of batch) w.reject(err)
      }
    }
    this.writing = false
  }
}
