// Housekeeping runs on its own in every process: questions whose timeout passed and that have chat
// copies are closed with the timed-out wording (so the copies get edited), and handled update ids
// older than a week are forgotten, not only when Parley starts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { TIMED_OUT } from '../../src/core/answer-wording.ts'
import { Housekeeping } from '../../src/core/housekeeping.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { channelLinks } from '../../src/db/schema.ts'
import { dbKinds, makeUser, type TestApp, testApp, until, uuid } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`housekeeping (${kind})`, () => {
    let t: TestApp
    let hk: Housekeeping
    beforeAll(async () => {
      t = await testApp(kind)
      hk = new Housekeeping(t.core, { pruneEveryMs: 50, log: () => {} })
      await hk.start()
    }, 60_000)
    afterAll(async () => {
      await hk.stop()
      await t.close()
    })

    test('a question that timed out with a copy sent is closed as timed out and its copy gets a lock job', async () => {
      const u = await makeUser(t.database.db, 'hk')
      await t.database.db
        .insert(channelLinks)
        .values({ userId: u.id, channel: 'nowhere', target: 'c1', chatId: 'c1' })
      const ask = (timeoutSeconds: number | null) =>
        postAgentMessage(t.core, {
          userId: u.id,
          instanceId: uuid(),
          agentType: 'claude',
          content: 'Ship it? [YES/NO]',
          requiresUserInput: true,
          timeoutSeconds,
        })
      const [expiring, waiting] = [await ask(1), await ask(null)]
      // The copies went out (nothing sends channel "nowhere": mark them sent as the outbox would).
      await t.database.query(
        `update deliveries set state = 'sent', external_ref = '{"m":1}' where message_id = any($1::uuid[])`,
        [[expiring.messageId, waiting.messageId]],
      )
      const question = (id: string) =>
        t.database.query<{ answered_via: string | null; reason: string | null }>(
          `select answered_via, metadata->>'closed_reason' as reason from messages where id = $1`,
          [id],
        )
      await until(async () => (await question(expiring.messageId))[0]?.answered_via === 'closed', 5000)
      expect(await question(expiring.messageId)).toEqual([{ answered_via: 'closed', reason: TIMED_OUT }])
      const locks = await t.database.query<{ kind: string; state: string }>(
        `select kind, state from deliveries where message_id = $1 order by kind`,
        [expiring.messageId],
      )
      expect(locks).toEqual([
        { kind: 'lock', state: 'pending' },
        { kind: 'question', state: 'sent' },
      ])
      expect(await question(waiting.messageId)).toEqual([{ answered_via: null, reason: null }])
    }, 20_000)

    test('handled update ids older than a week are pruned periodically, recent ones kept', async () => {
      const old = `old-${uuid()}`
      const recent = `recent-${uuid()}`
      await t.database.query(
        `insert into processed_updates (source, external_id, created_at) values
           ('slack', $1, now() - interval '8 days'), ('telegram', $2, now())`,
        [old, recent],
      )
      const kept = () =>
        t.database.query<{ external_id: string }>(
          'select external_id from processed_updates where external_id = any($1::text[])',
          [[old, recent]],
        )
      await until(async () => (await kept()).length === 1, 5000, 'pruned')
      expect((await kept()).map((r) => r.external_id)).toEqual([recent])
    }, 20_000)
  })
}
