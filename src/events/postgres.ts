// Event bus across processes: Postgres LISTEN/NOTIFY on one dedicated connection per process,
// fanned out in memory. Events are delivered locally at once and published for the others; our
// own notifications come back to us and are skipped by origin id.
import type postgres from 'postgres'
import { type BusEvent, type EventBus, LocalFanout } from './bus.ts'

const CHANNEL = 'parley_events'

export class PostgresBus extends LocalFanout implements EventBus {
  private readonly origin = crypto.randomUUID().slice(0, 8)
  private listening: { unlisten(): Promise<void> } | null = null

  private constructor(private readonly sql: postgres.Sql) {
    super()
  }

  static async start(sql: postgres.Sql): Promise<PostgresBus> {
    const bus = new PostgresBus(sql)
    bus.listening = await sql.listen(CHANNEL, (payload) => bus.receive(payload))
    return bus
  }

  private receive(payload: string): void {
    let parsed: { o: string; e: BusEvent }
    try {
      parsed = JSON.parse(payload)
    } catch {
      return
    }
    if (parsed.o !== this.origin) this.dispatch(parsed.e)
  }

  async publish(event: BusEvent): Promise<void> {
    this.dispatch(event)
    // Payloads carry ids only, far below NOTIFY's 8000-byte limit.
    await this.sql.notify(CHANNEL, JSON.stringify({ o: this.origin, e: event }))
  }

  async close(): Promise<void> {
    await this.listening?.unlisten().catch(() => {})
    this.listening = null
  }
}
