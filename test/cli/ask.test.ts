// `parley ask` as a script uses it: the answer on stdout with exit 0, exit 2 when nobody answered
// in time, exit 1 on an error, and a key revoked while it waits ends the wait at once.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { revokeApiKey } from '../../src/auth/api-keys.ts'
import { dbKinds, makeUser, type TestDb } from '../helpers.ts'
import { runCli } from './run-cli.ts'
import { startTestParley, type TestParley } from './test-parley.ts'

for (const kind of dbKinds()) {
  describe(`parley ask (${kind})`, () => {
    let t: TestParley
    let db: TestDb
    let env: (key: string) => Record<string, string>

    beforeAll(async () => {
      t = await startTestParley(kind)
      db = t.db
      env = (key) => ({ PARLEY_URL: t.url, PARLEY_API_KEY: key })
    }, 60_000)
    afterAll(() => t.close())

    async function openQuestion(instanceId: string) {
      for (let i = 0; i < 300; i++) {
        const rows = await db.database.query<{ content: string }>(
          'select content from messages where instance_id = $1 and requires_user_input and answered_at is null',
          [instanceId],
        )
        if (rows[0]) return rows[0]
        await Bun.sleep(20)
      }
      throw new Error('the question never arrived')
    }

    test('prints the answer and exits 0', async () => {
      const user = await makeUser(db.database.db, 'asker')
      const instance = crypto.randomUUID()
      const run = runCli(['ask', 'Deploy now?', '--options', 'yes,no', '--instance', instance], {
        env: env(user.key),
      })
      expect((await openQuestion(instance)).content).toContain('Deploy now?')
      expect((await t.answer(user.key, instance, 'yes')).ok).toBe(true)
      expect(await run).toMatchObject({ code: 0, stdout: 'yes\n' })
    }, 20_000)

    test('no answer in time: exit 2, told on stderr', async () => {
      const user = await makeUser(db.database.db, 'waiter')
      const r = await runCli(['ask', 'Anyone there?', '--timeout', '1'], { env: env(user.key) })
      expect(r).toMatchObject({ code: 2, stdout: '' })
      expect(r.stderr).toContain('no answer within 1 s')
    }, 20_000)

    test('a key revoked while it waits ends the wait at once, with exit 1 and the reason', async () => {
      const user = await makeUser(db.database.db, 'revoked')
      const instance = crypto.randomUUID()
      const run = runCli(['ask', 'Still allowed?', '--instance', instance], { env: env(user.key) })
      await openQuestion(instance)
      await revokeApiKey(db.database.db, t.parley.core.bus, user.keyId)
      const r = await run
      expect(r).toMatchObject({ code: 1, stdout: '' })
      expect(r.stderr).toContain('the API key was refused')
      expect(r.ms).toBeLessThan(15_000) // one long-poll at most, not a day of retries
    }, 30_000)

    test('errors exit 1: a refused key, no question', async () => {
      const badKey = await runCli(['ask', 'Hello?'], { env: env('prl_not_a_real_key_at_all') })
      expect(badKey).toMatchObject({ code: 1, stdout: '' })
      expect(badKey.stderr).toContain('the API key was refused')
      const empty = await runCli(['ask'], { env: env('prl_x') })
      expect(empty.code).toBe(1)
      expect(empty.stderr).toContain('ask needs the question text')
    }, 20_000)
  })
}
