// DISCONNECTED detection without polling: every process keeps, in memory, the deadline of each
// live instance it has heard about (heartbeats and agent messages arrive as bus events) and one
// timer for the earliest. When it fires, one conditional UPDATE flips the instances whose
// heartbeat really is older than the limit; several processes doing so race harmlessly.
//
// A waiting agent (a parked long-poll, a blocking ask_question, a held hook request) sends no
// heartbeat, yet it is alive: the waiting code holds its instance with holdPresence(). This
// process never flips a held instance, and it writes last_heartbeat_at of its held instances
// often enough that no other process's sweep finds them stale.
import { and, inArray, lt, sql } from 'drizzle-orm'
import { agentInstances } from '../db/schema.ts'
import type { Core } from './context.ts'

export const DISCONNECT_AFTER_MS = 120_000
const LIVE = ['ACTIVE', 'AWAITING_INPUT']
/** A newly held instance gets its heartbeat written within this long (holds are batched). */
const HOLD_BATCH_MS = 1000

/**
 * Marks `instanceId` as alive while a request of this process waits for it; call the returned
 * function when the wait ends. Without a presence tracker (a bare core) it does nothing.
 */
export function holdPresence(core: Core, instanceId: string): () => void {
  return core.presence?.hold(instanceId) ?? (() => {})
}

export class Presence {
  private readonly deadlines = new Map<string, number>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private timerAt = Number.POSITIVE_INFINITY
  private unsubscribe: (() => void) | null = null
  /** Instances with a waiting request on this process, by number of waiters. */
  private readonly holds = new Map<string, number>()
  /** When this process last wrote last_heartbeat_at of a held instance. */
  private readonly refreshed = new Map<string, number>()
  private refreshTimer: ReturnType<typeof setTimeout> | null = null
  private refreshAt = Number.POSITIVE_INFINITY
  private running = false

  constructor(
    private readonly core: Core,
    private readonly afterMs = DISCONNECT_AFTER_MS,
  ) {}

  /** Loads live instances once at start, then follows the bus. */
  async start(): Promise<void> {
    this.running = true
    this.unsubscribe = this.core.bus.subscribe('all', (e) => {
      if (e.type !== 'instance.updated') return
      if (LIVE.includes(e.status)) this.track(e.instanceId, Date.now() + this.afterMs)
      else this.deadlines.delete(e.instanceId)
    })
    const live = await this.core.db
      .select({
        id: agentInstances.id,
        at: agentInstances.lastHeartbeatAt,
        started: agentInstances.startedAt,
      })
      .from(agentInstances)
      .where(inArray(agentInstances.status, LIVE as never[]))
    for (const row of live) this.track(row.id, (row.at ?? row.started).getTime() + this.afterMs)
  }

  /** A request waits for `instanceId`: a sign of life until the returned release is called. */
  hold(instanceId: string): () => void {
    this.holds.set(instanceId, (this.holds.get(instanceId) ?? 0) + 1)
    if (!this.refreshed.has(instanceId))
      this.armRefresh(Date.now() + Math.min(HOLD_BATCH_MS, this.afterMs / 10))
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.holds.get(instanceId) ?? 1) - 1
      if (left > 0) {
        this.holds.set(instanceId, left)
        return
      }
      this.holds.delete(instanceId)
      // The wait was a sign of life until now: the usual limit counts from here.
      if (this.running) this.track(instanceId, Date.now() + this.afterMs)
    }
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
    const due: string[] = []
    for (const [id, deadline] of this.deadlines) {
      if (deadline > now) continue
      if (this.holds.has(id)) this.deadlines.set(id, now + this.afterMs)
      else due.push(id)
    }
    for (const id of due) this.deadlines.delete(id)
    if (due.length > 0) {
      try {
        const flipped = await this.core.db
          .update(agentInstances)
          .set({ status: 'DISCONNECTED' })
          .where(
            and(
              inArray(agentInstances.id, due),
              inArray(agentInstances.status, LIVE as never[]),
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
        // Still live: another process holds it (and wrote its heartbeat). Watch it from there.
        const gone = new Set(flipped.map((r) => r.id))
        const alive = due.filter((id) => !gone.has(id))
        if (alive.length > 0) await this.retrack(alive)
      } catch (err) {
        console.error('presence sweep failed', err)
      }
    }
    const next = Math.min(...this.deadlines.values())
    if (Number.isFinite(next)) this.arm(next)
  }

  private async retrack(ids: string[]): Promise<void> {
    const rows = await this.core.db
      .select({ id: agentInstances.id, at: agentInstances.lastHeartbeatAt })
      .from(agentInstances)
      .where(and(inArray(agentInstances.id, ids), inArray(agentInstances.status, LIVE as never[])))
    for (const row of rows) {
      if (row.at && !this.deadlines.has(row.id)) this.deadlines.set(row.id, row.at.getTime() + this.afterMs)
    }
  }

  private armRefresh(at: number) {
    if (!this.running || at >= this.refreshAt) return
    if (this.refreshTimer) clearTimeout(this.refreshTimer)
    this.refreshAt = at
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.max(0, at - Date.now()))
  }

  /** Writes last_heartbeat_at of held instances not written for a third of the limit. */
  private async refresh(): Promise<void> {
    this.refreshTimer = null
    this.refreshAt = Number.POSITIVE_INFINITY
    const every = this.afterMs / 3
    const now = Date.now()
    for (const [id, at] of this.refreshed)
      if (at <= now - every || !this.holds.has(id)) this.refreshed.delete(id)
    const stale = [...this.holds.keys()].filter((id) => !this.refreshed.has(id))
    if (stale.length > 0) {
      try {
        await this.core.db
          .update(agentInstances)
          .set({ lastHeartbeatAt: sql`now()` })
          .where(and(inArray(agentInstances.id, stale), inArray(agentInstances.status, LIVE as never[])))
        for (const id of stale) this.refreshed.set(id, now)
      } catch (err) {
        console.error('presence refresh failed', err)
      }
    }
    if (this.holds.size === 0) return
    const next = Math.min(...[...this.holds.keys()].map((id) => (this.refreshed.get(id) ?? now) + every))
    this.armRefresh(Math.max(next, Date.now() + 10))
  }

  stop(): void {
    this.running = false
    this.unsubscribe?.()
    if (this.timer) clearTimeout(this.timer)
    if (this.refreshTimer) clearTimeout(this.refreshTimer)
    this.timer = null
    this.refreshTimer = null
  }
}
