// The dashboard search: words of message text through the search index (the last word may be the
// start of one), instance names by substring, results ranked (name matches, then the number of
// matching messages, then activity), any text taken literally, and nobody else's messages.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { inboxPage, normalizeFilters, SEARCH_COUNT_CAP } from '../../src/core/inbox.ts'
import { renameInstance, shareInstance } from '../../src/core/instance-admin.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { ownMessageMatches, searchWords } from '../../src/core/search.ts'
import { queryRows } from '../../src/core/sql-rows.ts'
import { dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'

test('the words of a search: punctuation separates, the last word is a prefix while typed', () => {
  expect(searchWords('Deploy fai')).toBe(`'Deploy' & 'fai':*`)
  expect(searchWords('src/module_3.ts')).toBe(`'src' & 'module' & '3' & 'ts'`)
  expect(searchWords('src/module_3.tsx')).toBe(`'src' & 'module' & '3' & 'tsx':*`)
  expect(searchWords('50%')).toBe(`'50'`)
  expect(searchWords('fix.')).toBe(`'fix'`)
  expect(searchWords('x')).toBe(`'x'`)
  expect(searchWords(`it's a "b" & !c | d:* <-> (e) \\ foo`)).toBe(
    `'it' & 's' & 'a' & 'b' & 'c' & 'd' & 'e' & 'foo':*`,
  )
  expect(searchWords('don’t stop… now—ok')).toBe(`'don' & 't' & 'stop' & 'now' & 'ok'`)
  expect(searchWords('%_%')).toBeNull()
})

for (const kind of dbKinds()) {
  describe(`search (${kind})`, () => {
    let t: TestApp
    beforeAll(async () => {
      t = await testApp(kind)
    }, 60_000)
    afterAll(() => t.close())

    const say = (userId: string, instanceId: string, content: string) =>
      postAgentMessage(t.core, { userId, instanceId, agentType: 'claude', content, requiresUserInput: false })
    const ids = async (userId: string, q: string, more: Parameters<typeof normalizeFilters>[0] = {}) =>
      (await inboxPage(t.core, userId, normalizeFilters({ q, ...more }))).rows.map((r) => r.id)
    /** Every page of a search, `limit` rows at a time, following the cursors. */
    const everyPage = async (userId: string, q: string, limit: number) => {
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const p = await inboxPage(t.core, userId, normalizeFilters({ q, limit, cursor }))
        seen.push(...p.rows.map((r) => r.id))
        cursor = p.nextCursor
      } while (cursor)
      return seen
    }

    test('whole words and the start of the last one, in any case, across punctuation', async () => {
      const u = await makeUser(t.database.db, 'words')
      const [a, b, c] = [uuid(), uuid(), uuid()]
      await say(u.id, a, 'Deploying to Fly failed: see src/server/app.ts')
      await say(u.id, b, 'The deploy succeeded')
      await say(u.id, c, 'Café crème, déjà vu')
      expect((await ids(u.id, 'deploy')).sort()).toEqual([a, b].sort())
      expect(await ids(u.id, 'DEPLOYING FAIL')).toEqual([a])
      expect(await ids(u.id, 'app.ts')).toEqual([a])
      expect(await ids(u.id, 'server/app')).toEqual([a])
      expect(await ids(u.id, 'ploy')).toEqual([])
      expect(await ids(u.id, 'café déj')).toEqual([c])
      // Typographic punctuation (phones type ’ and …) separates words as ASCII punctuation does.
      const d = uuid()
      await say(u.id, d, 'Don’t ship… the build—it fails')
      expect(await ids(u.id, 'don’t ship…')).toEqual([d])
      expect(await ids(u.id, 'build—it')).toEqual([d])
      // One or two characters are a whole word, not the start of every word beginning with them.
      expect(await ids(u.id, 'd')).toEqual([])
      expect(await ids(u.id, 'de')).toEqual([])
      expect((await ids(u.id, 'dep')).sort()).toEqual([a, b].sort())
    })

    test('any text is taken literally: operators, quotes and wildcards match nothing by themselves', async () => {
      const u = await makeUser(t.database.db, 'literal')
      const [a, b, c] = [uuid(), uuid(), uuid()]
      await say(u.id, a, 'coverage at 50% now')
      await say(u.id, b, 'nothing to see')
      await say(u.id, c, '500 errors')
      await renameInstance(t.core, u.id, b, 'Release 5_%')
      await renameInstance(t.core, u.id, c, 'Release 500')
      // Ending in punctuation, the last word is complete: "50%" is not the start of "500".
      expect(await ids(u.id, '50%')).toEqual([a])
      expect((await ids(u.id, '50')).sort()).toEqual([a, c].sort())
      expect(await ids(u.id, '5_%')).toEqual([b])
      expect(await ids(u.id, '_%')).toEqual([b])
      for (const q of [`'`, `\\`, '!', '&|', 'a:*', `it's`, '(', '<->']) {
        expect(await ids(u.id, q)).toEqual([])
      }
    })

    test('ranked: name matches, then more matching messages, then the latest activity', async () => {
      const u = await makeUser(t.database.db, 'rank')
      const [once, thrice, named, older, recent] = [uuid(), uuid(), uuid(), uuid(), uuid()]
      // The instance with the most matches is the least recently active.
      for (let i = 0; i < 3; i++) await say(u.id, thrice, `flaky test ${i}`)
      await say(u.id, older, 'flaky test again')
      await say(u.id, once, 'a flaky test')
      await say(u.id, named, 'nothing here')
      await renameInstance(t.core, u.id, named, 'Flaky hunt')
      await say(u.id, recent, 'flaky, still')
      expect(await ids(u.id, 'flaky')).toEqual([named, thrice, recent, once, older])
      // Pages of the ranking cover every match once, in order.
      expect(await everyPage(u.id, 'flaky', 2)).toEqual([named, thrice, recent, once, older])
      // A cursor of the plain inbox is not one of the search's.
      const inbox = await inboxPage(t.core, u.id, normalizeFilters({ limit: 1 }))
      expect(() => normalizeFilters({ q: 'flaky', cursor: inbox.nextCursor })).toThrow(/cursor/)
    })

    test('a word in more messages than are counted: name matches, then the latest activity', async () => {
      const u = await makeUser(t.database.db, 'dense')
      const [many, recent, named, none] = [uuid(), uuid(), uuid(), uuid()]
      await say(u.id, many, 'common start')
      await t.database.query(
        `insert into messages (id, instance_id, user_id, sender, content)
         select gen_random_uuid(), $1, $2, 'AGENT', 'a common word ' || g from generate_series(1, $3::int) g`,
        [many, u.id, SEARCH_COUNT_CAP],
      )
      await say(u.id, none, 'rare')
      await say(u.id, recent, 'common too')
      await say(u.id, named, 'elsewhere')
      await renameInstance(t.core, u.id, named, 'Common room')
      // Counted, `many` would come before `recent`: past the cap, activity decides.
      expect(await ids(u.id, 'common')).toEqual([named, recent, many])
      expect(await everyPage(u.id, 'common', 1)).toEqual([named, recent, many])
      // Below the cap the same kind of search is counted.
      expect(await ids(u.id, 'common start')).toEqual([many])
    })

    test("other people's messages never match; a shared instance's do, for the one it is shared with", async () => {
      const alice = await makeUser(t.database.db, 'alice-s')
      const bob = await makeUser(t.database.db, 'bob-s')
      const [mine, theirs] = [uuid(), uuid()]
      await say(alice.id, mine, 'zebra crossing plans')
      await say(bob.id, theirs, 'zebra crossing notes')
      await renameInstance(t.core, bob.id, theirs, 'zebra')
      expect(await ids(alice.id, 'zebra')).toEqual([mine])
      expect(await ids(alice.id, 'zebra', { status: 'ACTIVE', agentType: 'claude' })).toEqual([mine])
      await shareInstance(t.core, bob.id, theirs, { email: alice.email, access: 'READ' })
      expect(await ids(alice.id, 'zebra')).toEqual([theirs, mine])
      expect(await ids(bob.id, 'zebra plans')).toEqual([])
    })

    test("a shared instance's owner's other messages are not counted for the viewer", async () => {
      const alice = await makeUser(t.database.db, 'alice-c')
      const bob = await makeUser(t.database.db, 'bob-c')
      const [twice, once, shared, hidden] = [uuid(), uuid(), uuid(), uuid()]
      await say(alice.id, twice, 'walrus one')
      await say(alice.id, twice, 'walrus two')
      await say(alice.id, once, 'walrus three')
      await say(bob.id, shared, 'walrus shared')
      await shareInstance(t.core, bob.id, shared, { email: alice.email, access: 'READ' })
      // Bob's unshared instance holds more matches than are counted: were they read for Alice,
      // her search would stop counting and rank by activity (the shared one, then `once`).
      await say(bob.id, hidden, 'walrus hidden')
      await t.database.query(
        `insert into messages (id, instance_id, user_id, sender, content)
         select gen_random_uuid(), $1, $2, 'AGENT', 'walrus ' || g from generate_series(1, $3::int) g`,
        [hidden, bob.id, SEARCH_COUNT_CAP],
      )
      expect(await ids(alice.id, 'walrus')).toEqual([twice, shared, once])
    })

    test("message text is found through the index that holds each message's owner", async () => {
      const u = await makeUser(t.database.db, 'indexed')
      const plan = await t.database.db.transaction(async (tx) => {
        await tx.execute(sql`set local enable_seqscan = off`)
        return queryRows<{ 'QUERY PLAN': string }>(
          tx,
          sql`explain select m.id from messages m where ${ownMessageMatches('m', searchWords('deploy')!, u.id)}`,
        )
      })
      expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('messages_owner_search_idx')
    })
  })
}
