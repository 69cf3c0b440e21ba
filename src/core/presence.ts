// DISCONNECTED detection without polling: every process keeps, in memory, the deadline of each
// live instance it has heard about (heartbeats and agent messages arrive as bus events) and one
// timer, set a few seconds past the earliest (so that instances that went silent together are
// flipped together). When it fires, one conditional UPDATE flips the instances whose heartbeat
// really is older than the limit; several processes doing so race harmlessly.
//
// A waiting agent (a parked long-poll, a blocking ask_question, a held hook request) sends no
// heartbeat, yet it is alive: the waiting code holds its instance with holdPresence(). The
// process writes last_heartbeat_at of the instances it holds (of their owner only) often enough
// that no sweep, its own or another process's, finds them stale.
import { and, eq, inArray, lt, or, type SQL, type SQLWrapper, sql } from 'drizzle-orm'
import { agentInstances } from '../db/schema.ts'
import { publishAll } from '../events/bus.ts'
import { log } from '../log.ts'
import type { Core } from './context.ts'
import { isLive, LIVE_STATUSES, liveSql } from './statuses.ts'

export const DISCONNECT_AFTER_MS = 120_000
/** An agent is shown online when it was heard from this recently. */
export const PRESENCE_WINDOW_SECONDS = 60

/**
 * SQL: the agent is online, shown as such by the inbox and the instance page. Only a live session
 * can be: a COMPLETED instance whose agent sent its last heartbeat a moment ago is over, not online.
 */
export const onlineSql = (heartbeat: SQLWrapper | string, status: SQLWrapper | string): SQL =>
  sql`(coalesce(${col(heartbeat)} > now() - make_interval(secs => ${PRESENCE_WINDOW_SECONDS}), false) and ${liveSql(col(status))})`

const col = (c: SQLWrapper | string): SQL => (typeof c === 'string' ? sql.raw(c) : sql`${c}`)
/** A newly held instance gets its heartbeat written within this long (holds are batched). */
const HOLD_BATCH_MS = 1000
/**
 * A sweep waits this long past the earliest deadline, so instances that went silent within it are
 * flipped by one statement, not one each: agents that stopped together rarely stop in the same ms.
 */
const SWEEP_BATCH_MS = 5000

/**
 * Marks `userId`'s instance as alive while a request of this process waits for it; call the
 * returned function when the wait ends. Another user's instance id has no effect. Without a
 * presence tracker (a bare core) it does nothing.
 */
export function holdPresence(core: Core, userId: string, instanceId: string): () => void {
  return core.presence?.hold(userId, instanceId) ?? (() => {})
}

type Hold = { userId: string; instanceId: string; waiters: number }

export class Presence {
  private readonly deadlines = new Map<string, number>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private timerAt = Number.POSITIVE_INFINITY
  private unsubscribe: (() => void) | null = null
  /** Instances with a waiting request on this process, by `userId/instanceId`. */
  private readonly holds = new Map<string, Hold>()
  /** When this process last wrote last_heartbeat_at of a hold, by the same key. */
  private readonly refreshed = new Map<string, number>()
  private refreshTimer: ReturnType<typeof setTimeout> | null = null
  private refreshAt = Number.POSITIVE_INFINITY
  private running = false

  constructor(
    private readonly core: Core,
    private readonly afterMs = DISCONNECT_AFTER_MS,
    /** How late past its deadline an instance may be flipped, to flip it with others. */
    private readonly batchMs = Math.min(SWEEP_BATCH_MS, afterMs / 10),
  ) {}

  /** Loads live instances once at start, then follows the bus. */
  async start(): Promise<void> {
    this.running = true
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

  /** Requests of this process waiting for an answer, over every held instance. */
  waiting(): number {
    let n = 0
    for (const h of this.holds.values()) n += h.waiters
    return n
  }

  /** A request waits for `userId`'s instance: a sign of life until the returned release is called. */
  hold(userId: string, instanceId: string): () => void {
    const key = `${userId}/${instanceId}`
    const hold = this.holds.get(key) ?? { userId, instanceId, waiters: 0 }
    hold.waiters++
    this.holds.set(key, hold)
    if (!this.refreshed.has(key)) this.armRefresh(Date.now() + Math.min(HOLD_BATCH_MS, this.afterMs / 10))
    let released = false
    return () => {
      if (released) return
      released = true
      if (--hold.waiters > 0) return
      this.holds.delete(key)
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
    this.timer = setTimeout(() => void this.sweep(), Math.max(0, at + this.batchMs - Date.now()))
  }

  private async sweep(): Promise<void> {
    this.timer = null
    this.timerAt = Number.POSITIVE_INFINITY
    const now = Date.now()
    const due: string[] = []
    for (const [id, deadline] of this.deadlines) if (deadline <= now) due.push(id)
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
        await publishAll(
          this.core.bus,
          flipped.map((row) => ({
            type: 'instance.updated',
            userId: row.userId,
            instanceId: row.id,
            status: 'DISCONNECTED',
          })),
        )
        // Still live: a process holds it (and wrote its heartbeat). Watch it from there.
        const gone = new Set(flipped.map((r) => r.id))
        const alive = due.filter((id) => !gone.has(id))
        if (alive.length > 0) await this.retrack(alive)
      } catch (err) {
        log.error({ err }, 'presence sweep failed')
      }
    }
    const next = Math.min(...this.deadlines.values())
    if (Number.isFinite(next)) this.arm(next)
  }

  private async retrack(ids: string[]): Promise<void> {
    const rows = await this.core.db
      .select({ id: agentInstances.id, at: agentInstances.lastHeartbeatAt })
      .from(agentInstances)
      .where(and(inArray(agentInstances.id, ids), inArray(agentInstances.status, [...LIVE_STATUSES])))
    for (const row of rows) {
      // Not sooner than a tenth of the limit: the database clock may lag this one a little.
      const at = Math.max((row.at?.getTime() ?? 0) + this.afterMs, Date.now() + this.afterMs / 10)
      if (row.at && !this.deadlines.has(row.id)) this.deadlines.set(row.id, at)
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
    for (const [key, at] of this.refreshed)
      if (at <= now - every || !this.holds.has(key)) this.refreshed.delete(key)
    const stale = [...this.holds].filter(([key]) => !this.refreshed.has(key))
    if (stale.length > 0) {
      const byUser = new Map<string, string[]>()
      for (const [, h] of stale) byUser.set(h.userId, [...(byUser.get(h.userId) ?? []), h.instanceId])
      const owned = [...byUser].map(([userId, ids]) =>
        and(eq(agentInstances.userId, userId), inArray(agentInstances.id, ids)),
      )
      try {
        await this.core.db
          .update(agentInstances)
          .set({ lastHeartbeatAt: sql`now()` })
          .where(and(or(...owned), inArray(agentInstances.status, [...LIVE_STATUSES])))
        for (const [key] of stale) this.refreshed.set(key, now)
      } catch (err) {
        log.error({ err }, 'presence refresh failed')
      }
    }
    if (this.holds.size === 0) return
    const next = Math.min(...[...this.holds.keys()].map((key) => (this.refreshed.get(key) ?? now) + every))
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
