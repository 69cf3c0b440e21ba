// Rules written once and used from SQL and TS alike must give the same answer both ways: which
// statuses are live or ended, what notification prefs mean when the person has not said, and which
// questions are still open.
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
import { isOpenQuestion, openQuestionSql, type QuestionState } from '../../src/core/open-questions.ts'
import {
  endedSql,
  hasEnded,
  isLive,
  liveSql,
  type StatusCause,
  statusAfter,
  statusAfterSql,
} from '../../src/core/statuses.ts'
import { resultRows } from '../../src/db/client.ts'
import { INSTANCE_STATUSES } from '../../src/db/schema.ts'
import { describeChatChannels } from '../../src/notify/registry.ts'
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

const CAUSES: StatusCause[] = ['agent-message', 'agent-question', 'user-message', 'session-start']

test('status transitions (DESIGN.md "Statuses")', () => {
  const after = (cause: StatusCause) =>
    Object.fromEntries(INSTANCE_STATUSES.map((s) => [s, statusAfter(s, cause)]))
  // An agent's message keeps COMPLETED (Omnara); DELETED stays deleted whatever happens.
  expect(after('agent-message')).toEqual({
    ACTIVE: 'ACTIVE',
    AWAITING_INPUT: 'ACTIVE',
    COMPLETED: 'COMPLETED',
    FAILED: 'ACTIVE',
    KILLED: 'ACTIVE',
    DISCONNECTED: 'ACTIVE',
    DELETED: 'DELETED',
  })
  expect(after('agent-question')).toEqual({
    ACTIVE: 'AWAITING_INPUT',
    AWAITING_INPUT: 'AWAITING_INPUT',
    COMPLETED: 'COMPLETED',
    FAILED: 'AWAITING_INPUT',
    KILLED: 'AWAITING_INPUT',
    DISCONNECTED: 'AWAITING_INPUT',
    DELETED: 'DELETED',
  })
  // A person's message, or a resumed session, makes even a completed instance ACTIVE again.
  for (const cause of ['user-message', 'session-start'] as const) {
    expect(after(cause)).toEqual({
      ACTIVE: 'ACTIVE',
      AWAITING_INPUT: 'ACTIVE',
      COMPLETED: 'ACTIVE',
      FAILED: 'ACTIVE',
      KILLED: 'ACTIVE',
      DISCONNECTED: 'ACTIVE',
      DELETED: 'DELETED',
    })
  }
})

const HOUR = 3_600_000
/** Messages, and whether each is an open question: only an unanswered agent question in time is. */
const QUESTIONS: [QuestionState, boolean][] = [
  [{ sender: 'AGENT', requiresUserInput: true, answeredAt: null, timeoutAt: null }, true],
  [
    { sender: 'AGENT', requiresUserInput: true, answeredAt: null, timeoutAt: new Date(Date.now() + HOUR) },
    true,
  ],
  [
    { sender: 'AGENT', requiresUserInput: true, answeredAt: null, timeoutAt: new Date(Date.now() - HOUR) },
    false,
  ],
  [
    { sender: 'AGENT', requiresUserInput: true, answeredAt: new Date(Date.now() - HOUR), timeoutAt: null },
    false,
  ],
  [{ sender: 'AGENT', requiresUserInput: false, answeredAt: null, timeoutAt: null }, false],
  [{ sender: 'USER', requiresUserInput: true, answeredAt: null, timeoutAt: null }, false],
]

test('an open question: an unanswered agent question whose timeout has not passed', () => {
  for (const [m, open] of QUESTIONS) expect({ m, open: isOpenQuestion(m) }).toEqual({ m, open })
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

    test('status transitions', async () => {
      for (const status of INSTANCE_STATUSES) {
        for (const cause of CAUSES) {
          const [row] = resultRows<{ after: string }>(
            await db.database.db.execute(sql`select ${statusAfterSql(sql`${status}::text`, cause)} as after`),
          )
          expect({ status, cause, after: row?.after }).toEqual({
            status,
            cause,
            after: statusAfter(status, cause),
          })
        }
      }
    })

    test('open questions', async () => {
      for (const [m, open] of QUESTIONS) {
        const at = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString())
        const [row] = resultRows<{ open: boolean }>(
          await db.database.db.execute(
            sql`select ${openQuestionSql('q')} as open from (select ${m.sender}::text as sender,
              ${m.requiresUserInput}::boolean as requires_user_input,
              ${at(m.answeredAt)}::timestamptz as answered_at, ${at(m.timeoutAt)}::timestamptz as timeout_at) q`,
          ),
        )
        expect({ m, open: row?.open }).toEqual({ m, open })
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
      // What the wiring does: the chat channels are described to core once.
      describeChatChannels()
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
      const prefs = withDefaults(
        { questions: { telegram: false }, quiet: { start: '22:00', end: '07:00' } },
        ['telegram', 'slack', 'push'],
      )
      await setNotificationPrefs(db.database.db, user.id, prefs)
      const [row] = await db.database.query<{ p: Record<string, unknown> }>(
        'select notification_prefs as p from users where id = $1',
        [user.id],
      )
      expect(row!.p).toEqual({
        questions: { pigeon: false, telegram: false, slack: true, push: true },
        progress: { pigeon: true, telegram: false, slack: false, push: false },
        quiet: { start: '22:00', end: '07:00' },
      })
      expect(await getNotificationPrefs(db.database.db, user.id)).toEqual(prefs)
    })
  })
}
