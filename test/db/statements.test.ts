// A statement built once per shape: its SQL is made on first use only, each call binds its own
// values, and it runs like any other statement (counted, prepared, on both databases).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { cachedStatement } from '../../src/db/statements.ts'
import { dbKinds, freshDatabase, type TestDb } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`cachedStatement (${kind})`, () => {
    let t: TestDb
    beforeAll(async () => {
      t = await freshDatabase(kind, { migrate: false })
    }, 60_000)
    afterAll(() => t.drop())

    test('builds its text once per shape and binds the values of each call', async () => {
      const built: string[] = []
      const echo = cachedStatement<{ upper: boolean }, { word: string; n: number }>((s, v) => {
        built.push(s.upper ? 'upper' : 'plain')
        const word = s.upper ? sql`upper(${v.word}::text)` : sql`${v.word}::text`
        return sql`select ${word} as word, ${v.n}::int + 1 as next, ${v.word}::text as again`
      })
      const db = t.database.db
      const before = t.database.queryCount()
      type Echo = { word: string; next: number; again: string }
      const calls = [
        [false, 'one', 1],
        [false, 'two', 2],
        [true, 'three', 3],
        [true, 'four', 4],
      ] as const
      const rows: Echo[] = []
      for (const [upper, word, n] of calls) rows.push((await echo<Echo>(db, { upper }, { word, n }))[0]!)
      expect(rows).toEqual([
        { word: 'one', next: 2, again: 'one' },
        { word: 'two', next: 3, again: 'two' },
        { word: 'THREE', next: 4, again: 'three' },
        { word: 'FOUR', next: 5, again: 'four' },
      ])
      expect(built).toEqual(['plain', 'upper'])
      // Counted like every statement (Database.queryCount feeds /metrics).
      expect(t.database.queryCount() - before).toBe(4)
    })

    test('a value missing from a call is an error, not a stale value from an earlier call', async () => {
      const one = cachedStatement<{ on: boolean }, { a: string }>((_, v) => sql`select ${v.a}::text as a`)
      expect((await one<{ a: string }>(t.database.db, { on: true }, { a: 'x' }))[0]?.a).toBe('x')
      await expect(one(t.database.db, { on: true }, {} as { a: string })).rejects.toThrow(/No value for "a"/)
    })
  })
}
