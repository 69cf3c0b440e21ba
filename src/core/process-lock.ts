// A lock that one process at a time holds among all processes sharing the Postgres database (for
// example Telegram's long polling, which allows one poller per bot token). Waiting happens inside
// Postgres on a reserved connection, with no retry loop; the lock goes away with the connection,
// so another process takes over when the holder dies. PGlite is one process: the lock is free.
import type postgres from 'postgres'

/** What the lock needs from the database: the postgres.js client (null for PGlite). */
export type LockDatabase = { sql: postgres.Sql | null }

export class ProcessLock {
  private reserved: postgres.ReservedSql | null = null
  private pid: number | null = null
  private cancelled = false

  constructor(
    private readonly database: LockDatabase,
    private readonly key: number,
  ) {}

  /** Waits until this process holds the lock; false when `cancel` came first (or throws then). */
  async acquire(): Promise<boolean> {
    const sql = this.database.sql
    if (!sql) return !this.cancelled
    this.reserved = await sql.reserve()
    const [row] = await this.reserved<{ pid: number }[]>`select pg_backend_pid() as pid`
    this.pid = row!.pid
    if (this.cancelled) return false
    await this.reserved`select pg_advisory_lock(${this.key})`
    return !this.cancelled
  }

  /** Ends a wait in progress: `acquire` returns false or throws. */
  async cancel(): Promise<void> {
    this.cancelled = true
    const sql = this.database.sql
    if (sql && this.pid !== null) await sql`select pg_cancel_backend(${this.pid})`.catch(() => {})
  }

  /** Gives the lock (and its connection) back. */
  async release(): Promise<void> {
    if (!this.reserved) return
    await this.reserved`select pg_advisory_unlock_all()`.catch(() => {})
    this.reserved.release()
    this.reserved = null
  }
}
