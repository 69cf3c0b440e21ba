// The outbox: sends the `deliveries` rows that core writes in the same transaction as the change
// that causes them. Rows are claimed with FOR UPDATE SKIP LOCKED and leased (next_attempt_at moves
// past the send), so two processes never send the same row; results are written back by id.
// Nothing polls: the outbox wakes on the bus's `delivery.queued` event and on one timer set for
// the next due row, so rows left pending by a restart (or a crash, after their lease) are sent.
// Rows due together (a question's copies to every device) are read in one statement at send time,
// and results that arrive together are written in one (batched.ts). Delivery is at least once: a
// result that cannot be written at first is written again while the row's lease holds
// (recordUntilStored), so only a crash between the channel accepting a send and that write sends
// a copy twice. Edits (lock, progress) are idempotent; webhooks carry the row id as
// Idempotency-Key so a receiver can drop the repeat; a chat copy can appear twice.
import type { Core } from '../core/context.ts'
import {
  claimDue,
  msUntilNextDue,
  recordFailed,
  recordProgressSent,
  recordRetry,
  recordSent,
  releaseDeliveries,
  type SentCopy,
} from '../core/outbox-store.ts'
import type { BusEvent } from '../events/bus.ts'
import { logError } from '../log.ts'
import { countOutboxFailure } from '../metrics.ts'
import { Batched } from './batched.ts'
import type { ChannelAdapter, DeliveryJob, SendResult } from './channel.ts'
import { loadJobs } from './jobs.ts'
import { type Backoff, backoffDelay, DEFAULT_BACKOFF, Pacer } from './pacing.ts'
import { ChannelRegistry } from './registry.ts'

export type OutboxOptions = {
  /** Base of the links to instance pages (PUBLIC_URL or http://localhost:PORT). */
  baseUrl: string
  backoff?: Partial<Backoff>
  /** Sends are booked at most this far ahead of now; a round claims only what fits. */
  windowMs?: number
  /** A claimed row is hidden from other processes this long (covers the window and the send). */
  leaseMs?: number
  /** The per-instance status message is edited at most once per this interval. */
  progressIntervalMs?: number
  /** Candidate rows looked at per round. */
  batch?: number
  log?: (message: string, err?: unknown) => void
}

const MAX_TIMER_MS = 2 ** 31 - 1

export class Outbox {
  private readonly adapters: ChannelRegistry
  private readonly pacers = new Map<string, Pacer>()
  private readonly backoff: Backoff
  private readonly windowMs: number
  private readonly leaseMs: number
  private readonly progressIntervalMs: number
  private readonly batch: number
  private readonly log: (message: string, err?: unknown) => void
  private running = false
  private pumping: Promise<void> | null = null
  private again = false
  private timer: ReturnType<typeof setTimeout> | null = null
  private timerAt = Number.POSITIVE_INFINITY
  /** Booked sends not started yet: released back to the table on stop. */
  private readonly booked = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly inFlight = new Set<Promise<void>>()
  /** Sends that went through, written back together when they finish together. */
  private readonly sent = new Batched<SentCopy, boolean>((copies) => recordSent(this.core.db, copies))
  private unsubscribe: () => void = () => {}

  constructor(
    private readonly core: Core,
    adapters: ChannelRegistry | ChannelAdapter[],
    private readonly opts: OutboxOptions,
  ) {
    this.adapters = adapters instanceof ChannelRegistry ? adapters : new ChannelRegistry(adapters)
    for (const a of this.adapters) this.pacers.set(a.channel, new Pacer(a.pacing))
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff }
    this.windowMs = opts.windowMs ?? 1000
    this.leaseMs = opts.leaseMs ?? 120_000
    this.progressIntervalMs = opts.progressIntervalMs ?? 3000
    this.batch = opts.batch ?? 200
    this.log = opts.log ?? logError('outbox')
  }

  get channels(): string[] {
    return this.adapters.names
  }

  async start(): Promise<void> {
    if (this.running || this.channels.length === 0) return
    this.running = true
    this.unsubscribe = this.core.bus.subscribe('all', (e: BusEvent) => {
      if (e.type === 'delivery.queued' && this.adapters.get(e.channel)) this.wake()
    })
    await this.pump()
  }

  /** Stops claiming, gives back booked rows that have not started, and waits for sends in flight. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.unsubscribe()
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.pumping
    const unsent = [...this.booked.keys()]
    for (const t of this.booked.values()) clearTimeout(t)
    this.booked.clear()
    await releaseDeliveries(this.core.db, unsent).catch((err) =>
      this.log('releasing booked rows failed', err),
    )
    await Promise.allSettled([...this.inFlight])
  }

  /** Runs a round now (or right after the one running). */
  wake(): void {
    if (!this.running) return
    void this.pump()
  }

  private pump(): Promise<void> {
    if (this.pumping) {
      this.again = true
      return this.pumping
    }
    this.pumping = (async () => {
      try {
        do {
          this.again = false
          await this.round().catch((err) => {
            this.log('round failed', err)
            this.wakeAt(Date.now() + 1000)
          })
        } while (this.again && this.running)
      } finally {
        this.pumping = null
      }
    })()
    return this.pumping
  }

  private wakeAt(at: number): void {
    if (!this.running || at >= this.timerAt) return
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(
      () => {
        this.timer = null
        this.timerAt = Number.POSITIVE_INFINITY
        this.wake()
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
    )
  }

  /** Claims what can be sent within the window, books each a slot, and sets the next wake-up. */
  private async round(): Promise<void> {
    if (!this.running) return
    const now = Date.now()
    const horizon = now + this.windowMs
    const cooling: string[] = []
    const open: string[] = []
    let coolingUntil = Number.POSITIVE_INFINITY
    for (const [channel, pacer] of this.pacers) {
      const held = pacer.heldPast(horizon)
      if (held !== null) {
        // The whole channel waits (a per-bot 429): none of its rows are claimed before then.
        coolingUntil = Math.min(coolingUntil, held - this.windowMs)
        continue
      }
      open.push(channel)
      for (const [target, at] of pacer.coolingTargets(horizon)) {
        cooling.push(`${channel}:${target}`)
        coolingUntil = Math.min(coolingUntil, at - this.windowMs)
      }
    }
    if (open.length === 0) {
      if (Number.isFinite(coolingUntil)) this.wakeAt(Math.max(coolingUntil, Date.now() + 1))
      return
    }
    const picked: { id: string; at: number }[] = []
    let heldUntil = Number.POSITIVE_INFINITY
    const query = { channels: open, cooling, batch: this.batch, leaseMs: this.leaseMs }
    const claimedAt = Date.now()
    const seen = await claimDue(this.core.db, query, (candidates) => {
      for (const c of candidates) {
        const pacer = this.pacers.get(c.channel)!
        const at = pacer.earliest(c.target)
        if (at <= horizon) picked.push({ id: c.id, at: pacer.book(c.target) })
        // Come back when half a window is free again, so rounds claim batches, not single rows.
        else heldUntil = Math.min(heldUntil, at - this.windowMs / 2)
      }
      return picked.map((p) => p.id)
    })
    const full = seen === this.batch
    // Sends booked for the same moment (a question's copies to every device, all due now) are
    // read together.
    const byTime = new Map<number, string[]>()
    const due = Date.now()
    for (const p of picked) {
      const at = Math.max(p.at, due)
      const ids = byTime.get(at)
      if (ids) ids.push(p.id)
      else byTime.set(at, [p.id])
    }
    for (const [at, ids] of byTime) this.bookSends(ids, at, claimedAt)
    if (full && picked.length > 0) {
      this.again = true
      return
    }
    const dueIn = await msUntilNextDue(this.core.db, open, cooling)
    // Cooling targets are left out above: their rows are due, but wait for `coolingUntil`.
    const wake = Math.min(heldUntil, coolingUntil, Date.now() + Math.max(0, dueIn))
    if (Number.isFinite(wake)) this.wakeAt(Math.max(wake, Date.now() + 1))
  }

  private bookSends(ids: string[], at: number, claimedAt: number): void {
    const timer = setTimeout(
      () => {
        for (const id of ids) this.booked.delete(id)
        const p = this.sendAll(ids, claimedAt).finally(() => this.inFlight.delete(p))
        this.inFlight.add(p)
      },
      Math.max(0, at - Date.now()),
    )
    for (const id of ids) this.booked.set(id, timer)
  }

  /** Reads the rows' jobs in one statement, at send time, then sends each. */
  private async sendAll(ids: string[], claimedAt: number): Promise<void> {
    let jobs: Map<string, DeliveryJob>
    try {
      jobs = await loadJobs(this.core.db, ids, this.opts.baseUrl)
    } catch (err) {
      this.log(`reading deliveries ${ids.join(', ')} failed`, err)
      // Due again at once rather than when their lease ends (if the database takes the release),
      // unless the read failed so late that another process may have claimed them since.
      if (Date.now() - claimedAt < this.leaseMs / 3) {
        await releaseDeliveries(this.core.db, ids).catch(() => {})
      }
      this.wakeAt(Date.now() + this.backoff.baseMs)
      return
    }
    // A row missing was answered, locked or removed since it was claimed.
    await Promise.all([...jobs.values()].map((job) => this.send(job)))
  }

  private async send(job: DeliveryJob): Promise<void> {
    try {
      const adapter = this.adapters.get(job.channel)!
      await this.pacers.get(job.channel)!.admit(job.target)
      let result: SendResult
      try {
        result = await adapter.send(job)
      } catch (err) {
        result = { ok: false, retry: true, error: errorText(err) }
      }
      await this.recordUntilStored(job, result)
    } catch (err) {
      this.log(`delivery ${job.id} failed`, err)
      this.wakeAt(Date.now() + this.backoff.baseMs)
    }
  }

  /**
   * Writes a send's result back, retrying a failed write (the database restarting, a connection
   * killed) for up to a third of the lease, while the row is still hidden from other processes:
   * giving up would leave it pending, and it would be sent a second time once its lease ran out.
   * What remains is a crash between the channel's answer and this write, which resends the copy.
   */
  private async recordUntilStored(job: DeliveryJob, result: SendResult): Promise<void> {
    const deadline = Date.now() + this.leaseMs / 3
    for (let attempt = 1; ; attempt++) {
      try {
        await this.record(job, result)
        return
      } catch (err) {
        const delay = Math.min(backoffDelay(this.backoff, attempt), 5000)
        if (Date.now() + delay > deadline) throw err
        this.log(`recording delivery ${job.id} failed; trying again`, err)
        await Bun.sleep(delay)
      }
    }
  }

  private async record(job: DeliveryJob, result: SendResult): Promise<void> {
    const db = this.core.db
    const { id } = job
    if (result.ok && job.kind === 'progress') {
      await recordProgressSent(db, {
        id,
        messageId: job.message.id,
        status: job.instance.status,
        payload: job.payload,
        externalRef: result.externalRef,
        intervalMs: this.progressIntervalMs,
      })
      this.wakeAt(Date.now() + this.progressIntervalMs)
      return
    }
    if (result.ok) {
      const copy = { id, kind: job.kind, messageId: job.message.id, externalRef: result.externalRef }
      if (await this.sent.add(copy)) this.wake()
      return
    }
    if (!result.retry || job.attempts + 1 >= this.backoff.maxAttempts) {
      const deactivate = !result.retry && result.deactivateLink ? job : undefined
      countOutboxFailure(job.channel, 'failed')
      await recordFailed(db, { id, error: result.error, deactivate })
      return
    }
    countOutboxFailure(job.channel, 'retry')
    const delay = result.retryAfterMs ?? backoffDelay(this.backoff, job.attempts + 1)
    if (result.retryAfterMs !== undefined) {
      const pacer = this.pacers.get(job.channel)!
      const until = Date.now() + result.retryAfterMs
      if (result.holdChannel) pacer.holdChannel(until)
      else pacer.holdTarget(job.target, until)
    }
    await recordRetry(db, { id, error: result.error, delayMs: delay })
    this.wakeAt(Date.now() + delay)
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
