// DISCONNECTED detection without polling: every process keeps, in memory, the deadline of each
// live instance it has heard about (heartbeats and agent messages arrive as bus events) and one
// timer for the earliest. When it fires, one conditional UPDATE flips the instances whose
// heartbeat really is older than the limit; several processes doing so race harmlessly.
import { and, inArray, lt, sql } from 'drizzle-orm'
import { agentInstances } from '../db/schema.ts'
import type { Core } from './context.ts'
import { isLive, LIVE_STATUSES } from './statuses.ts'

export const DISCONNECT_AFTER_MS = 120_000

export class Presence {
  private readonly deadlines = new Map<string, number>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private timerAt = Number.POSITIVE_INFINITY
  private unsubscribe: (() => void) | null = null

  constructor(
    private readonly core: Core,
    private readonly afterMs = DISCONNECT_AFTER_MS,
  ) {}

  /** Loads live instances once at start, then follows the bus. */
  async start(): Promise<void> {
    this.unsubscribe = this.core.bus.subscribe('all', (e) => {
      if (e.type !== 'instance.updated') return
      if (isLive(e.status)) this.track(e.instanceId, Date.now() + this.afterMs)
      else this.deadlines.delete(e.instanceId)
    })
    const live = await this.core.db
      .select({
        id: agentInstances.id,
        at: agentInstances.lastHeartbeatAt,
        started: agentInstances.startedAt,
      })
      .from(agentInstances)
      .where(inArray(agentInstances.status, [...LIVE_STATUSES]))
    for (const row of live) this.track(row.id, (row.at ?? row.started).getTime() + this.afterMs)
  }

  private track(instanceId: string, deadline: number) {
    this.deadlines.set(instanceId, deadline)
    if (deadline < this.timerAt) this.arm(deadline)
  }

  private arm(at: number) {
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => void this.sweep(), Math.max(0, at - Date.now()))
  }

  private async sweep(): Promise<void> {
    this.timer = null
    this.timerAt = Number.POSITIVE_INFINITY
    const now = Date.now()
    const due = [...this.deadlines].filter(([, d]) => d <= now).map(([id]) => id)
    for (const id of due) this.deadlines.delete(id)
    if (due.length > 0) {
      try {
        const flipped = await this.core.db
          .update(agentInstances)
          .set({ status: 'DISCONNECTED' })
          .where(
            and(
              inArray(agentInstances.id, due),
              inArray(agentInstances.status, [...LIVE_STATUSES]),
              lt(agentInstances.lastHeartbeatAt, sql`now() - make_interval(secs => ${this.afterMs / 1000})`),
            ),
          )
          .returning({ id: agentInstances.id, userId: agentInstances.userId })
        for (const row of flipped) {
          await this.core.bus.publish({
            type: 'instance.updated',
            userId: row.userId,
            instanceId: row.id,
            status: 'DISCONNECTED',
          })
        }
      } catch (err) {
        console.error('presence sweep failed', err)
      }
    }
    const next = Math.min(...this.deadlines.values())
    if (Number.isFinite(next)) this.arm(next)
  }

  stop(): void {
    this.unsubscribe?.()
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}
