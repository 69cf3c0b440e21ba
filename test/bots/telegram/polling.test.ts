// Bot modes besides the webhook: no token means no bot; without PUBLIC_URL the bot long-polls,
// and with several processes on one Postgres exactly one of them holds getUpdates.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { POLLER_LOCK } from '../../../bots/telegram/runner.ts'
import { loadConfig } from '../../../src/config.ts'
import { createLinkCode } from '../../../src/core/links.ts'
import { startParley } from '../../../src/main.ts'
import { FakeTelegram } from '../../fakes/telegram.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until } from '../../helpers.ts'

for (const kind of dbKinds()) {
  describe(`telegram bot modes (${kind})`, () => {
    let fake: FakeTelegram
    let testDb: TestDb
    beforeAll(async () => {
      fake = new FakeTelegram().start()
      testDb = await freshDatabase(kind)
    }, 60_000)
    afterAll(async () => {
      fake.stop()
      await testDb.drop()
    })

    // How often a poller checks that it still holds the lock. A check slower than this counts as a
    // lost lock (the poller stops, as it must): on a loaded machine running test files side by
    // side, 100 ms checks were lost that way, and the lock changed hands under the tests.
    const LOCK_CHECK_MS = 300
    const start = (env: Record<string, string>) =>
      startParley(loadConfig({ PORT: '0', ...env }), {
        database: testDb.database,
        quiet: true,
        telegram: { pacing: { perTargetMs: 10, perSecond: 500 }, log: () => {}, lockCheckMs: LOCK_CHECK_MS },
      })
    const polling = () => ({ TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_API_ROOT: fake.apiRoot })

    test('without a bot token the bot is off and Parley serves without it', async () => {
      const calls = fake.calls.length
      const parley = await start({ PUBLIC_URL: 'https://parley.example' })
      try {
        expect(parley.telegram).toBeNull()
        const res = await fetch(`http://127.0.0.1:${parley.port}/telegram/webhook`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ update_id: 1 }),
        })
        expect(res.status).toBe(404)
        expect((await fetch(`http://127.0.0.1:${parley.port}/healthz`)).status).toBe(200)
        expect(fake.calls.length).toBe(calls)
      } finally {
        await parley.stop()
      }
    })

    test('without PUBLIC_URL the bot long-polls: updates arrive and the webhook route does not exist', async () => {
      // Handled update ids are kept a week, long past any resend, then forgotten at start.
      await testDb.database.query(
        `insert into processed_updates (source, external_id, created_at) values
           ('telegram', 'old-1', now() - interval '8 days'), ('telegram', 'recent-1', now())`,
      )
      const parley = await start(polling())
      const kept = await testDb.database.query<{ external_id: string }>(
        `select external_id from processed_updates where external_id in ('old-1', 'recent-1')`,
      )
      expect(kept.map((r) => r.external_id)).toEqual(['recent-1'])
      try {
        expect(parley.telegram?.mode).toBe('polling')
        await until(() => fake.callsOf('getUpdates').length > 0, 5000, 'first getUpdates')
        expect(fake.callsOf('deleteWebhook').length).toBeGreaterThan(0)
        const user = await makeUser(testDb.database.db, 'poll')
        const code = await createLinkCode(testDb.database.db, user.id, 'telegram')
        fake.push(fake.message(4242, `/start ${code}`))
        await until(() => fake.chat(4242).some((m) => m.text.includes('Linked')), 5000, 'link reply')
        const links = await testDb.database.query('select 1 from channel_links where chat_id = $1', ['4242'])
        expect(links).toHaveLength(1)
        const res = await fetch(`http://127.0.0.1:${parley.port}/telegram/webhook`, {
          method: 'POST',
          body: '{}',
        })
        expect(res.status).toBe(404)
      } finally {
        await parley.stop()
      }
      const after = fake.callsOf('getUpdates').length
      await Bun.sleep(300)
      expect(fake.callsOf('getUpdates').length).toBe(after) // graceful stop ends polling
    }, 20_000)

    // Two processes share one lock only on Postgres (PGlite is one process's files).
    test.skipIf(kind !== 'postgres')(
      'two processes: one long-polls, the other waits on the lock and takes over when it stops',
      async () => {
        const a = await start(polling())
        await until(() => a.telegram!.bot.isRunning(), 5000, 'a polls')
        const b = await start(polling())
        try {
          // Past the three checks a new holder waits before it polls.
          await Bun.sleep(4 * LOCK_CHECK_MS)
          expect(b.telegram!.bot.isRunning()).toBe(false)
          expect(fake.conflicts).toBe(0)
          fake.push(fake.message(5151, '/help'))
          await until(() => fake.chat(5151).some((m) => m.text.includes('/status')), 5000, 'help reply')
          await a.stop()
          await until(() => b.telegram!.bot.isRunning(), 5000, 'b takes over')
          fake.push(fake.message(5152, '/help'))
          await until(
            () => fake.chat(5152).some((m) => m.text.includes('/status')),
            5000,
            'help reply after takeover',
          )
          expect(fake.chat(5151).filter((m) => m.text.includes('/status'))).toHaveLength(1) // answered once, not by both
          expect(fake.conflicts).toBe(0)
        } finally {
          await a.stop()
          await b.stop()
        }
      },
      30_000,
    )

    test.skipIf(kind !== 'postgres')(
      'the poller whose lock connection dies stops polling before the waiting process starts, then waits again',
      async () => {
        const a = await start(polling())
        await until(() => a.telegram!.bot.isRunning(), 5000, 'a polls')
        const b = await start(polling())
        try {
          const conflicts = fake.conflicts
          // b starts its wait in the background: until it waits in Postgres, a could take the lock
          // back before b asks for it.
          await until(
            async () =>
              (
                await testDb.database.query(
                  `select 1 from pg_locks l
                   join pg_database d on d.oid = l.database and d.datname = current_database()
                   where l.locktype = 'advisory' and not l.granted
                     and l.classid = 0 and l.objid = ${POLLER_LOCK} and l.objsubid = 1`,
                )
              ).length === 1,
            5000,
            'b waits on the lock',
          )
          // The lock's connection dies under a (a network cut, an admin): a itself lives on.
          const killed = await testDb.database.query<{ ok: boolean }>(
            `select pg_terminate_backend(l.pid) as ok from pg_locks l
             join pg_database d on d.oid = l.database and d.datname = current_database()
             where l.locktype = 'advisory' and l.granted and l.objid = ${POLLER_LOCK}`,
          )
          expect(killed).toEqual([{ ok: true }])
          await until(() => b.telegram!.bot.isRunning(), 5000, 'b takes over')
          expect(a.telegram!.bot.isRunning()).toBe(false)
          fake.push(fake.message(6161, '/help'))
          await until(() => fake.chat(6161).some((m) => m.text.includes('/status')), 5000, 'help reply')
          expect(fake.chat(6161).filter((m) => m.text.includes('/status'))).toHaveLength(1)
          expect(fake.conflicts).toBe(conflicts)
          // a went back to waiting on the lock: it polls again once b is gone.
          await b.stop()
          await until(() => a.telegram!.bot.isRunning(), 5000, 'a polls again')
          expect(fake.conflicts).toBe(conflicts)
        } finally {
          await a.stop()
          await b.stop()
        }
      },
      30_000,
    )
  })
}
