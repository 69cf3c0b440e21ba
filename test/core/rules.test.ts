// Rules written once and used from SQL and TS alike must give the same answer both ways: which
// statuses are live or ended, and what notification prefs mean when the person has not said.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import {
  getNotificationPrefs,
  PREF_DEFAULTS,
  type PrefKind,
  prefOn,
  prefOnSql,
  setNotificationPrefs,
  withDefaults,
} from '../../src/core/notification-prefs.ts'
import { endedSql, hasEnded, isLive, liveSql } from '../../src/core/statuses.ts'
import { resultRows } from '../../src/db/client.ts'
import { INSTANCE_STATUSES } from '../../src/db/schema.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb } from '../helpers.ts'

const STORED: unknown[] = [
  null,
  {},
  { questions: { pigeon: false } },
  { questions: { pigeon: true, telegram: false }, progress: { pigeon: true } },
  { progress: { slack: false }, quiet: { start: '22:00', end: '07:00' } },
]

test('the defaults: every question, no progress', () => {
  expect(PREF_DEFAULTS).toEqual({ questions: true, progress: false })
  expect(prefOn(null, 'questions', 'pigeon')).toBe(true)
  expect(prefOn(null, 'progress', 'pigeon')).toBe(false)
})

test('live and ended do not overlap; DISCONNECTED is neither', () => {
  for (const s of INSTANCE_STATUSES) expect(isLive(s) && hasEnded(s)).toBe(false)
  expect(isLive('DISCONNECTED') || hasEnded('DISCONNECTED')).toBe(false)
  expect(hasEnded('DELETED')).toBe(true)
})

for (const kind of dbKinds()) {
  describe(`rules in SQL and TS (${kind})`, () => {
    let db: TestDb
    beforeAll(async () => {
      db = await freshDatabase(kind)
    }, 60_000)
    afterAll(() => db.drop())

    test('live and ended statuses', async () => {
      for (const status of INSTANCE_STATUSES) {
        const s = sql`${status}::text`
        const [row] = resultRows<{ live: boolean; ended: boolean }>(
          await db.database.db.execute(sql`select ${liveSql(s)} as live, ${endedSql(s)} as ended`),
        )
        expect({ status, ...row }).toEqual({ status, live: isLive(status), ended: hasEnded(status) })
      }
    })

    test('notification prefs with their defaults', async () => {
      for (const stored of STORED) {
        for (const prefKind of ['questions', 'progress'] as PrefKind[]) {
          for (const channel of ['pigeon', 'telegram', 'slack']) {
            const [row] = resultRows<{ on: boolean }>(
              await db.database.db.execute(
                sql`select ${prefOnSql(sql`${JSON.stringify(stored ?? {})}::jsonb`, prefKind, sql`${channel}::text`)} as on`,
              ),
            )
            expect({ stored, prefKind, channel, on: row?.on }).toEqual({
              stored,
              prefKind,
              channel,
              on: prefOn(stored, prefKind, channel),
            })
          }
        }
      }
    })
  })
}

for (const kind of dbKinds()) {
  describe(`notification prefs (${kind})`, () => {
    let db: TestDb
    beforeAll(async () => {
      db = await freshDatabase(kind)
    }, 60_000)
    afterAll(() => db.drop())

    test('saving the settings form keeps the prefs of channels it does not show', async () => {
      const user = await makeUser(db.database.db, 'prefs')
      await db.database.query(
        `update users set notification_prefs = '{"questions":{"pigeon":false},"progress":{"pigeon":true}}'
         where id = $1`,
        [user.id],
      )
      const prefs = withDefaults({ questions: { telegram: false }, quiet: { start: '22:00', end: '07:00' } })
      await setNotificationPrefs(db.database.db, user.id, prefs)
      const [row] = await db.database.query<{ p: Record<string, unknown> }>(
        'select notification_prefs as p from users where id = $1',
        [user.id],
      )
      expect(row!.p).toEqual({
        questions: { pigeon: false, telegram: false, slack: true },
        progress: { pigeon: true, telegram: false, slack: false },
        quiet: { start: '22:00', end: '07:00' },
      })
      expect(await getNotificationPrefs(db.database.db, user.id)).toEqual(prefs)
    })
  })
}
