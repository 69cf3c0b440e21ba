// What core functions need from the outside world: the database and the event bus. Passed as
// plain values so core never sees HTTP, chat libraries or process state.
import type { Db } from '../db/client.ts'
import type { EventBus } from '../events/bus.ts'

export type Core = {
  db: Db
  /** Where an answer's own statements go: `Database.answerDb` (ahead of queued agent work). Absent: `db`. */
  answerDb?: Db
  bus: EventBus
  /** This process's presence tracker, where waiting requests register (see holdPresence). */
  presence?: {
    hold(userId: string, instanceId: string): () => void
    /** Requests of this process waiting for an answer (for /metrics). */
    waiting?(): number
  }
}

/**
 * The database for a statement an answer waits on: who is answering (a chat's linked user), the
 * answer's own write, and the reads and cursor moves that hand answers to the agent (a poll, a
 * woken long-poll, MCP wait or hook). Everything else uses `core.db`. A test that replaces
 * `core.db` replaces `answerDb` too if it means the answer path.
 */
export const answerPath = (core: Core): Db => core.answerDb ?? core.db

/** Content longer than this is refused (documented in the API docs and README). */
export const MAX_CONTENT_CHARS = 100_000

export const newMessageId = (): string => Bun.randomUUIDv7()

/**
 * A message id ordered after `previous` even when this machine's clock is behind the one that
 * made `previous` (several machines share the database): UUIDv7 starts with its millisecond time.
 */
export function newMessageIdAfter(previous: string | null): string {
  const id = newMessageId()
  if (previous === null || id > previous) return id
  const previousMs = Number.parseInt(previous.replace(/-/g, '').slice(0, 12), 16)
  return Bun.randomUUIDv7('hex', previousMs + 1)
}

/** Postgres error code of a failed statement, whichever driver (and drizzle wrapper) raised it. */
export function pgErrorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code
  }
  return undefined
}

/** The driver's and the OS's codes for a connection that failed or went away. */
const CONNECTION_LOST = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
])

/**
 * Whether a failure means the database is out of reach for a moment (a connection killed or
 * refused, the server shutting down or starting, too many connections), so the same request can
 * succeed when retried: callers answer 503 with Retry-After, not 500.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; errno?: unknown; cause?: unknown } | undefined;
    e;
    e = e.cause as typeof e
  ) {
    for (const code of [e.code, e.errno]) {
      if (typeof code !== 'string') continue
      if (CONNECTION_LOST.has(code)) return true
      // 08: connection exception; 57P01-03: admin or crash shutdown, cannot connect now; 53300: too many connections.
      if (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code) || code === '53300') return true
    }
  }
  return false
}
