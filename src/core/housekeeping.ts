// Periodic upkeep every process runs (several at once race harmlessly): questions whose timeout
// passed are closed so their chat copies say so (closeExpiredQuestions), and handled Telegram
// updates and Slack event ids older than a week are forgotten (pruneProcessedUpdates). Both run
// at start, then on their own intervals; a failed round is logged and the next one tries again.
import { closeExpiredQuestions } from './answers.ts'
import type { Core } from './context.ts'
import { pruneProcessedUpdates } from './processed-updates.ts'

export type HousekeepingOptions = {
  /** How often expired questions are looked for (a partial index keeps this one cheap query). */
  expireEveryMs?: number
  /** How often handled update ids are pruned. */
  pruneEveryMs?: number
  log?: (message: string, err?: unknown) => void
}

export class Housekeeping {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly inFlight = new Set<Promise<void>>()
  private running = false
  private readonly log: (message: string, err?: unknown) => void

  constructor(
    private readonly core: Core,
    private readonly opts: HousekeepingOptions = {},
  ) {
    this.log = opts.log ?? ((m, err) => console.error(`housekeeping: ${m}`, err ?? ''))
  }

  /** Runs each job once (so start leaves nothing stale), then every interval until stop. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    await Promise.all([
      this.every(this.opts.expireEveryMs ?? 10_000, 'closing expired questions', () =>
        closeExpiredQuestions(this.core),
      ),
      this.every(this.opts.pruneEveryMs ?? 3_600_000, 'pruning handled updates', () =>
        pruneProcessedUpdates(this.core.db),
      ),
    ])
  }

  /** No new rounds; waits for a round in progress. */
  async stop(): Promise<void> {
    this.running = false
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await Promise.allSettled([...this.inFlight])
  }

  private every(ms: number, what: string, job: () => Promise<unknown>): Promise<void> {
    const round = (): Promise<void> => {
      const p = job()
        .then(
          () => {},
          (err) => this.log(`${what} failed`, err),
        )
        .finally(() => {
          this.inFlight.delete(p)
          if (!this.running) return
          const timer = setTimeout(() => {
            this.timers.delete(timer)
            void round()
          }, ms)
          this.timers.add(timer)
        })
      this.inFlight.add(p)
      return p
    }
    return round()
  }
}
