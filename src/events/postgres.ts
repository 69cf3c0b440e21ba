// Event bus across processes: Postgres LISTEN/NOTIFY on one dedicated connection per process,
// fanned out in memory. Events are delivered locally at once and published for the others; our
// own notifications come back to us and are skipped by origin id.
//
// Publishing coalesces: events published while a NOTIFY is in flight (or in the same tick) go out
// together in the next statement, so under load a busy process sends one statement per round trip
// instead of one per event, and a request that publishes three events waits for one, not three.
//
// An event carrying a message (see bus.ts) that would not fit in one NOTIFY goes without it: the
// other processes read that message from the database instead.
import type postgres from 'postgres'
import { observeBusDelay } from '../metrics.ts'
import { type BusEvent, type EventBus, LocalFanout } from './bus.ts'

const CHANNEL = 'parley_events'
/** NOTIFY payloads must stay under 8000 bytes (UTF-8); the rest is room for the envelope. */
const MAX_PAYLOAD = 7000

/**
 * How long the bus waits for one batch's NOTIFY statement. A query caught on a connection killed
 * at the wrong moment can stay unanswered inside the driver (docs/RELIABILITY.md), and each batch
 * waits for the one before it: unbounded, one such query would silence this process to the others
 * for good and hold its shutdown. After this the statement is cancelled, the batch counts as
 * failed, and the next batch goes out.
 */
export const NOTIFY_TIMEOUT_MS = 5000

/** Sends each payload of a JSON array of them on channel $1, in the array's order. */
const NOTIFY_ALL = `select pg_notify($1, p) from json_array_elements_text($2::json) with ordinality as t(p, n) order by n`

/** Origin process, events, and when they were published (ms since the epoch) for the delay metric. */
type Payload = { o: string; e: BusEvent[]; t?: number }

/**
 * Publishes events to every PostgresBus from a process that has no bus of its own (the CLI),
 * through any connection to the database: a NOTIFY in SQL, with an origin no bus has.
 */
export async function notifyFromOutside(
  execute: (channel: string, payload: string) => Promise<unknown>,
  events: BusEvent[],
): Promise<void> {
  await execute(CHANNEL, JSON.stringify({ o: 'outside', e: events } satisfies Payload))
}

export class PostgresBus extends LocalFanout implements EventBus {
  private readonly origin = crypto.randomUUID().slice(0, 8)
  private listening: { unlisten(): Promise<void> } | null = null
  private queued: BusEvent[] = []
  private scheduled: Promise<void> | null = null
  private inFlight: Promise<void> = Promise.resolve()
  /** Batches whose statement has been sent and not yet answered (0 or 1). */
  private sending = 0

  private constructor(
    private readonly sql: postgres.Sql,
    private readonly notifyTimeoutMs: number,
  ) {
    super()
  }

  static async start(sql: postgres.Sql, { notifyTimeoutMs = NOTIFY_TIMEOUT_MS } = {}): Promise<PostgresBus> {
    const bus = new PostgresBus(sql, notifyTimeoutMs)
    bus.listening = await sql.listen(CHANNEL, (payload) => bus.receive(payload))
    return bus
  }

  private receive(payload: string): void {
    let parsed: Payload
    try {
      parsed = JSON.parse(payload)
    } catch {
      return
    }
    if (parsed.o === this.origin || !Array.isArray(parsed.e)) return
    if (typeof parsed.t === 'number') observeBusDelay((Date.now() - parsed.t) / 1000)
    for (const event of parsed.e) this.dispatch(event)
  }

  /** Resolves once the event has been handed to Postgres for the other processes. */
  publish(event: BusEvent): Promise<void> {
    this.dispatch(event)
    this.queued.push(event)
    this.scheduled ??= this.inFlight.then(() => this.flush())
    return this.scheduled
  }

  notification(events: BusEvent[]): { channel: string; payload: string } | null {
    const [payload, ...more] = this.payloads(events)
    // The writer patches a few values in (a status, channel names): keep room for them.
    if (!payload || more.length > 0 || Buffer.byteLength(payload) > MAX_PAYLOAD) return null
    return { channel: CHANNEL, payload }
  }

  dispatchLocal(events: BusEvent[]): void {
    for (const event of events) this.dispatch(event)
  }

  behind(): boolean {
    return this.sending > 0
  }

  private flush(): Promise<void> {
    this.scheduled = null
    const batch = this.queued
    this.queued = []
    this.sending++
    const sent = this.notify(this.payloads(batch)).finally(() => this.sending--)
    // The next batch waits for this one, whether it worked or not (NOTIFYs on different pooled
    // connections could overtake each other); this caller sees the failure.
    this.inFlight = sent.catch(() => {})
    return sent
  }

  /**
   * A batch's NOTIFYs in one statement: one wait for a pooled connection, one round trip and one
   * commit however many payloads it has, delivered in order. Sent one statement each, they queued
   * one after another behind the requests' statements, and 200 busy agents made events faster
   * than they went out. After the time limit the statement is cancelled (a NOTIFY that commits
   * late would overtake the next batch) and the batch fails as retryable: the database did not
   * answer.
   */
  private notify(payloads: string[]): Promise<void> {
    const query = this.sql.unsafe(NOTIFY_ALL, [CHANNEL, JSON.stringify(payloads)], { prepare: true })
    let timer: Timer | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void Promise.resolve(query.cancel()).catch(() => {})
        const err = new Error(`NOTIFY not answered within ${this.notifyTimeoutMs} ms`)
        reject(Object.assign(err, { code: 'ETIMEDOUT' }))
      }, this.notifyTimeoutMs)
    })
    return Promise.race([query, late])
      .then(() => {})
      .finally(() => clearTimeout(timer))
  }

  private payloads(events: BusEvent[]): string[] {
    const out: string[] = []
    let chunk: BusEvent[] = []
    let size = 0
    const push = () => out.push(JSON.stringify({ o: this.origin, e: chunk, t: Date.now() } satisfies Payload))
    for (const event of events) {
      const [fit, n] = fitted(event)
      if (chunk.length > 0 && size + n > MAX_PAYLOAD) {
        push()
        chunk = []
        size = 0
      }
      chunk.push(fit)
      size += n
    }
    if (chunk.length > 0) push()
    return out
  }

  async close(): Promise<void> {
    // What is queued, else what is in flight (each bounded by the NOTIFY time limit).
    await (this.scheduled ?? this.inFlight).catch(() => {})
    await this.listening?.unlisten().catch(() => {})
    this.listening = null
  }
}

/**
 * The event, without the message it carries when that would not fit in one NOTIFY, and its size
 * in bytes as JSON (the limit counts bytes, and a character may take up to four).
 */
function fitted(event: BusEvent): [BusEvent, number] {
  const size = (e: BusEvent) => Buffer.byteLength(JSON.stringify(e)) + 1
  const n = size(event)
  if (n <= MAX_PAYLOAD) return [event, n]
  const { message: _m, answer: _a, ...bare } = event as BusEvent & { message?: unknown; answer?: unknown }
  const stripped = bare as BusEvent
  return [stripped, size(stripped)]
}
