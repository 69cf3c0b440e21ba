// The last `limit` bytes of a terminal's output, kept so that a viewer who arrives late (or comes
// back after being cut off) sees the screen as it is before the live output continues.
export class Replay {
  private chunks: Uint8Array[] = []
  private size = 0

  constructor(private readonly limit: number) {}

  push(data: Uint8Array): void {
    if (data.length === 0) return
    // Copied: the caller's bytes belong to a websocket message that Bun may reuse.
    const kept = data.length > this.limit ? data.slice(data.length - this.limit) : data.slice()
    this.chunks.push(kept)
    this.size += kept.length
    while (this.size > this.limit) {
      const first = this.chunks[0]!
      const over = this.size - this.limit
      if (first.length <= over) {
        this.chunks.shift()
        this.size -= first.length
      } else {
        this.chunks[0] = first.subarray(over)
        this.size -= over
      }
    }
  }

  /** Everything kept, oldest first, as one buffer. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size)
    let at = 0
    for (const c of this.chunks) {
      out.set(c, at)
      at += c.length
    }
    if (this.chunks.length > 1) this.chunks = [out]
    return out
  }

  get length(): number {
    return this.size
  }
}
