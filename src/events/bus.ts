// The event bus: every state change publishes an event carrying ids; listeners (SSE streams, bots,
// the outbox) read what they need from the database. A person's message and an answer also carry
// the message itself when it is small enough, so the agent it wakes is answered from memory.
// Two implementations share this fan-out: in-process, and Postgres LISTEN/NOTIFY across machines.
import type { MessageRow } from '../core/wire.ts'
import { log } from '../log.ts'

export type BusEvent =
  | {
      type: 'message.created'
      userId: string
      instanceId: string
      messageId: string
      sender: 'AGENT' | 'USER'
      question: boolean
      /** The USER message itself; absent when it was too large to send (read it from the database). */
      message?: MessageRow
    }
  /** Answered, or closed without an answer (`answerId` null). */
  | {
      type: 'question.answered'
      userId: string
      instanceId: string
      questionId: string
      answerId: string | null
      /** The answering message; absent when closed, or too large to send (read it from the database). */
      answer?: MessageRow
    }
  | { type: 'instance.updated'; userId: string; instanceId: string; status: string }
  | { type: 'key.revoked'; keyHash: string }
  | { type: 'delivery.queued'; channel: string }
  /** An MCP client cancelled a blocking call; whichever process holds it stops waiting. */
  | { type: 'mcp.cancelled'; call: string }
  /** An agent's terminal socket opened on that machine; viewers of it elsewhere reconnect there. */
  | { type: 'relay.agent'; userId: string; instanceId: string; machineId: string }

export type Listener = (event: BusEvent) => void

/** Where a listener is attached: one instance, one user, or everything. */
export type Topic = { instanceId: string } | { userId: string } | 'all'

export interface EventBus {
  publish(event: BusEvent): Promise<void>
  subscribe(topic: Topic, listener: Listener): () => void
  /** Number of attached listeners (for /metrics and tests). */
  size(): number
  close(): Promise<void>
  /**
   * For a write that sends its own NOTIFY (pg_notify in the same statement, delivered at its
   * commit, so no round trip of its own): what to send. Null when the bus must publish the events
   * itself after the commit: it has no other processes to tell (MemoryBus), or they do not fit.
   */
  notification?(events: BusEvent[]): { channel: string; payload: string } | null
  /** After the commit that sent `notification(events)`: hands the events to this process's listeners. */
  dispatchLocal?(events: BusEvent[]): void
  /** Whether events published now would wait behind a NOTIFY already in flight. */
  behind?(): boolean
}

const topicKey = (t: Topic) => (t === 'all' ? '*' : 'instanceId' in t ? `i:${t.instanceId}` : `u:${t.userId}`)

/** In-memory fan-out by topic; the building block of both buses. */
export class LocalFanout {
  private readonly listeners = new Map<string, Set<Listener>>()

  subscribe(topic: Topic, listener: Listener): () => void {
    const key = topicKey(topic)
    let set = this.listeners.get(key)
    if (!set) {
      set = new Set()
      this.listeners.set(key, set)
    }
    set.add(listener)
    return () => {
      const s = this.listeners.get(key)
      if (!s) return
      s.delete(listener)
      if (s.size === 0) this.listeners.delete(key)
    }
  }

  dispatch(event: BusEvent): void {
    const keys = ['*']
    if ('instanceId' in event) keys.push(`i:${event.instanceId}`)
    if ('userId' in event) keys.push(`u:${event.userId}`)
    for (const key of keys) {
      const set = this.listeners.get(key)
      if (!set) continue
      for (const listener of [...set]) {
        try {
          listener(event)
        } catch (err) {
          log.error({ err, event: event.type }, 'event listener failed')
        }
      }
    }
  }

  /** Number of attached listeners (for /metrics and tests). */
  size(): number {
    let n = 0
    for (const s of this.listeners.values()) n += s.size
    return n
  }
}

/** Publishes several events together (the Postgres bus sends them in one NOTIFY). */
export function publishAll(bus: EventBus, events: BusEvent[]): Promise<void> {
  return Promise.all(events.map((e) => bus.publish(e))).then(() => {})
}

/**
 * Publishes what a commit changed, holding the writer for the other processes' copy only while
 * the bus is behind: an agent's message then costs it one round trip to the database in the
 * common case. This process's listeners have the events when this is called (a bus dispatches
 * before its first await), the others once the bus's NOTIFY goes out. Under load, when a NOTIFY
 * is already in flight, the writer waits as before: not waiting there let 200 busy agents post
 * faster than their events went out, and their posts crowded out the answers (bench/RESULTS.md).
 * A failure is logged, not thrown: the commit stands, and the writer's retry would not send the
 * events either (a replay publishes nothing).
 */
export async function publishAfterCommit(bus: EventBus, events: BusEvent[]): Promise<void> {
  const behind = bus.behind?.() ?? false
  const sent = publishAll(bus, events).catch((err) =>
    log.error({ err, events: events.map((e) => e.type) }, 'events may not have reached the other processes'),
  )
  if (behind) await sent
}

export class MemoryBus extends LocalFanout implements EventBus {
  async publish(event: BusEvent): Promise<void> {
    this.dispatch(event)
  }
  async close(): Promise<void> {}
}

/**
 * Resolves with the first event on `topic` that `accept` takes, or null after `timeoutMs` or when
 * `signal` aborts. Subscribe before reading the database so no event can slip in between.
 */
export function nextEvent(
  bus: EventBus,
  topic: Topic,
  accept: (e: BusEvent) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): { promise: Promise<BusEvent | null>; cancel: () => void } {
  let cancel = () => {}
  const promise = new Promise<BusEvent | null>((resolve) => {
    const done = (e: BusEvent | null) => {
      unsubscribe()
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(e)
    }
    const onAbort = () => done(null)
    const unsubscribe = bus.subscribe(topic, (e) => {
      if (accept(e)) done(e)
    })
    const timer = setTimeout(() => done(null), Math.max(0, timeoutMs))
    if (signal?.aborted) return done(null)
    signal?.addEventListener('abort', onAbort, { once: true })
    cancel = () => done(null)
  })
  return { promise, cancel }
}
