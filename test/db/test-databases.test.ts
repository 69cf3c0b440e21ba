// The test fixtures' databases (test/helpers.ts): one a file dropped is emptied and handed to the
// next file of the worker, so it must come back as the template left it, and what the first file
// still holds (a Parley left running, a pool that reconnects by itself) must be cut off from it.
import { describe, expect, test } from 'bun:test'
import { connectPostgres, type Database } from '../../src/db/client.ts'
import { dbKinds, freshDatabase, makeUser } from '../helpers.ts'

/**
 * What tells a kept database from a new one: Postgres keeps a renamed database's oid; PGlite's
 * transaction ids go on from where the last file's ended (a new one starts from the template's).
 */
const identity = async (database: Database) => {
  const [row] = await database.query<{ id: string }>(
    database.kind === 'pglite'
      ? 'select txid_current()::text as id'
      : 'select oid::text as id from pg_database where datname = current_database()',
  )
  return BigInt(row!.id)
}

for (const kind of dbKinds()) {
  describe(`test databases (${kind})`, () => {
    test('a dropped database comes back empty to the next file, and refuses what the last one holds', async () => {
      const first = await freshDatabase(kind)
      await makeUser(first.database.db, 'kept')
      const before = await identity(first.database)
      const held = first.database
      await first.drop()
      await expect(held.query('select 1')).rejects.toThrow()
      if (first.url) {
        const reconnected = connectPostgres(first.url, { max: 1 })
        await expect(reconnected.query('select 1')).rejects.toThrow()
        await reconnected.close()
      }

      const second = await freshDatabase(kind)
      try {
        const after = await identity(second.database)
        if (kind === 'pglite') expect(after).toBeGreaterThan(before)
        else expect(after).toBe(before)
        const count = async (table: string) =>
          (await second.database.query<{ n: number }>(`select count(*)::int as n from ${table}`))[0]!.n
        expect([await count('users'), await count('api_keys')]).toEqual([0, 0])
        expect(await count('parley_migrations')).toBeGreaterThan(0)
        // A new user and key work as in a new database.
        await makeUser(second.database.db, 'after')
      } finally {
        await second.drop()
      }
    })
  })
}
