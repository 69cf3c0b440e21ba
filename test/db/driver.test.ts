// What patches/postgres@3.4.9.patch mends in the driver, on a real server (docs/RELIABILITY.md).
// A new connection first reads the server's array types, and only then runs the query that opened
// it. Killed during that read, the driver rejected a promise nobody holds: an unhandled rejection,
// which ends the process (and fails this test). Patched, the query that opened the connection gets
// the error, which Parley answers as a retryable 503.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { isDatabaseUnavailable } from '../../src/core/context.ts'
import { connectPostgres, type Database } from '../../src/db/client.ts'
import { freshDatabase, hasPostgres, type TestDb, until } from '../helpers.ts'

describe.skipIf(!hasPostgres())('postgres.js, patched (postgres)', () => {
  let testDb: TestDb
  let admin: Database
  let locker: Database
  beforeAll(async () => {
    testDb = await freshDatabase('postgres', { migrate: false })
    admin = connectPostgres(testDb.url!, { max: 1 })
    locker = connectPostgres(testDb.url!, { max: 1 })
  }, 30_000)
  afterAll(async () => {
    await admin.close()
    await locker.close()
    await testDb.drop()
  }, 30_000)

  test('a connection killed while it reads the array types fails its first query, with no unhandled rejection', async () => {
    // Parsed once now: while pg_type is locked, a statement never parsed before would wait for it too.
    const blocked = () =>
      admin.query<{ pid: number }>(
        `select pid from pg_stat_activity
         where application_name = 'parley' and wait_event_type = 'Lock' and query like '%typarray%'`,
      )
    const kill = (pid: number) => admin.query('select pg_terminate_backend($1)', [pid])
    await blocked()
    await kill(0)

    // The read of the array types waits behind this lock, where the kill finds it.
    const held = await locker.sql!.reserve()
    await held`begin`
    await held`lock table pg_catalog.pg_type in access exclusive mode`
    const victim = connectPostgres(testDb.url!, { max: 1 })
    try {
      const first = victim.query('select 1 as one').then(
        () => 'answered',
        (err) => (isDatabaseUnavailable(err) ? 'unavailable' : `other: ${err}`),
      )
      let pids: { pid: number }[] = []
      await until(async () => {
        pids = await blocked()
        return pids.length === 1
      })
      await kill(pids[0]!.pid)
      await held`rollback`
      held.release()
      expect(await first).toBe('unavailable')
      // The pool connects again: the next query is answered.
      expect(await victim.query<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }])
    } finally {
      await victim.close()
    }
  })
})
