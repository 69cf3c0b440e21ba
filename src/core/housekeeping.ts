// Upkeep every process runs (several at once race harmlessly): questions whose timeout passed are
// closed so their chat copies say so (closeExpiredQuestions), and handled Telegram updates and
// Slack event ids older than a week are forgotten (pruneProcessedUpdates). Nothing polls: the
// expiry sweep runs at start, then when the next question with copies is due to time out (looked
// up again after each sweep and whenever copies are queued), so an idle Parley makes no queries
// for it; pruning runs at start and then hourly. A failed round is logged and tried again.
import type { BusEvent } from '../events/bus.ts'
import { logError } from '../log.ts'
import { closeExpiredQuestions, msUntilNextTimeout } from './answers.ts'
import type { Core } from './context.ts'
import { pruneProcessedUpdates } from './processed-updates.ts'

export type HousekeepingOptions = {
  /** How often handled update ids are pruned (default hourly). */
  pruneEveryMs?: number
  log?: (message: string, err?: unknown) => void
}

const RETRY_MS = 10_000
const MAX_TIMER_MS = 2 ** 31 - 1

export class Housekeeping {
  private readonly inFlight = new Set<Promise<void>>()
  private running = false
  private pruneTimer: ReturnType<typeof setTimeout> | null = null
  private expireTimer: ReturnType<typeof setTimeout> | null = null
  private expireAt = Number.POSITIVE_INFINITY
  private unsubscribe: () => void = () => {}
  private readonly log: (message: string, err?: unknown) => void

  constructor(
    private readonly core: Core,
    private readonly opts: HousekeepingOptions = {},
  ) {
    this.log = opts.log ?? logError('housekeeping')
  }

  /** Runs each job once (so start leaves nothing stale), then as described above until stop. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    // New copies may belong to a question with a timeout: look up the next one again.
    this.unsubscribe = this.core.bus.subscribe('all', (e: BusEvent) => {
      if (e.type === 'delivery.queued' && e.channel !== 'webhook') this.track(this.planExpiry())
    })
    await Promise.all([this.track(this.expire()), this.track(this.prune())])
  }

  /** No new rounds; waits for a round in progress. */
  async stop(): Promise<void> {
    this.running = false
    this.unsubscribe()
    for (const t of [this.pruneTimer, this.expireTimer]) if (t) clearTimeout(t)
    // A later start() arms its timers afresh.
    this.expireAt = Number.POSITIVE_INFINITY
    await Promise.allSettled([...this.inFlight])
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p)
    return p.finally(() => this.inFlight.delete(p))
  }

  private async expire(): Promise<void> {
    try {
      await closeExpiredQuestions(this.core)
      await this.planExpiry()
    } catch (err) {
      this.log('closing expired questions failed', err)
      this.expireIn(RETRY_MS)
    }
  }

  /** Sets the expiry timer for the next question with copies that will time out. */
  private async planExpiry(): Promise<void> {
    try {
      const ms = await msUntilNextTimeout(this.core)
      if (ms !== null) this.expireIn(Math.max(ms, 0) + 50)
    } catch (err) {
      this.log('looking up the next question timeout failed', err)
      this.expireIn(RETRY_MS)
    }
  }

  private expireIn(ms: number): void {
    const at = Date.now() + ms
    if (!this.running || at >= this.expireAt) return
    if (this.expireTimer) clearTimeout(this.expireTimer)
    this.expireAt = at
    this.expireTimer = setTimeout(
      () => {
        this.expireTimer = null
        this.expireAt = Number.POSITIVE_INFINITY
        void this.track(this.expire())
      },
      Math.min(ms, MAX_TIMER_MS),
    )
  }

  private async prune(): Promise<void> {
    await pruneProcessedUpdates(this.core.db).catch((err) => this.log('pruning handled updates failed', err))
    if (!this.running) return
    this.pruneTimer = setTimeout(() => void this.track(this.prune()), this.opts.pruneEveryMs ?? 3_600_000)
  }
}
