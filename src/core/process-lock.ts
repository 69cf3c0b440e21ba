// A lock that one process at a time holds among all processes sharing the Postgres database (for
// example Telegram's long polling, which allows one poller per bot token). Waiting happens inside
// Postgres on a reserved connection, with no retry loop; the lock goes away with the connection,
// so another process takes over when the holder dies. The lock also goes when only its connection
// dies (a network cut, pg_terminate_backend) while the holder lives on: `watch` tells the holder,
// which must stop what the lock guarded. PGlite is one process: the lock is free.
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

  /**
   * Checks every `everyMs`, from another connection, that Postgres still lists the lock as granted
   * to the lock's connection. When not, or when a check fails or takes longer than `everyMs` (so
   * loss is noticed within two intervals), the lock's connection is given up (ended if it still
   * lives, never used again) and `onLost` is called once. Returns a function that stops watching.
   */
  watch(everyMs: number, onLost: () => void): () => void {
    const sql = this.database.sql
    const pid = this.pid
    if (!sql || pid === null) return () => {}
    let timer: ReturnType<typeof setTimeout> | null = null
    let watching = true
    const check = async () => {
      const held = await Promise.race([
        sql<{ held: boolean }[]>`
          select exists (select 1 from pg_locks where locktype = 'advisory' and granted
            and pid = ${pid} and objsubid = 1
            and ((classid::bigint << 32) | objid::bigint) = ${this.key}) as held`.then(
          ([row]) => row?.held === true,
          () => false,
        ),
        Bun.sleep(everyMs).then(() => false),
      ])
      if (!watching) return
      if (held) {
        timer = setTimeout(check, everyMs)
        return
      }
      watching = false
      await this.abandon(pid)
      onLost()
    }
    timer = setTimeout(check, everyMs)
    return () => {
      watching = false
      if (timer) clearTimeout(timer)
    }
  }

  /**
   * Forgets a lock connection that may be dead: a query on it could fail inside the driver, and
   * giving it back would hand the pool a closed connection. If it still lives, it is ended, which
   * frees the lock for sure.
   */
  private async abandon(pid: number): Promise<void> {
    this.reserved = null
    this.pid = null
    const sql = this.database.sql
    if (sql) await sql`select pg_terminate_backend(${pid})`.catch(() => {})
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
    this.pid = null
  }
}
