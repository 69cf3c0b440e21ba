// Approvals answered from a phone: the hook's question reaches Slack and Telegram (fakes of their
// APIs) with the readable tool input and the three buttons; a press there decides the permission
// the agent is waiting for, and every copy is edited. An agent that gives up edits the copies too.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config.ts'
import { createLinkCode } from '../../src/core/links.ts'
import { type Parley, startParley } from '../../src/main.ts'
import { Outbox } from '../../src/notify/outbox.ts'
import { BASE_URL, type SlackFixture, slackFixture } from '../bots/slack/fixture.ts'
import { FakeTelegram } from '../fakes/telegram.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until } from '../helpers.ts'
import { fixture, hookClient } from './hooks-fixture.ts'

const blocksText = (m: { blocks: unknown[] } | undefined) => JSON.stringify(m?.blocks ?? [])

for (const kind of dbKinds()) {
  describe(`hook approvals in Slack (${kind})`, () => {
    let s: SlackFixture
    let outbox: Outbox
    beforeAll(async () => {
      s = await slackFixture(kind)
    }, 60_000)
    afterEach(() => outbox?.stop())
    afterAll(() => s.close())

    const start = async () => {
      outbox = new Outbox(s.core, [s.bot.adapter], { baseUrl: BASE_URL, log: () => {} })
      await outbox.start()
    }
    // Generous waits: the machine running the suite may be busy.
    const WAIT_MS = 10_000
    const copyFor = (slackUserId: string) =>
      s.fake.until(() => [...s.fake.messages.values()].find((m) => m.channel === `D${slackUserId}`), WAIT_MS)

    test('"Allow for this session" pressed in Slack allows the tool and edits the copy', async () => {
      await start()
      const u = await s.linkedUser('ann')
      const c = hookClient(s.app, u.key)
      const held = c.send('permission-request-bash')
      const copy = await copyFor(u.slack.userId)
      const text = blocksText(copy)
      expect(text).toContain("Allow Bash: python3 -c 'print(")
      expect(text).toContain('python3 -c')
      const [question] = await s.database.query<{ id: string }>(
        'select id from messages where instance_id = $1',
        [c.instanceId],
      )
      for (const i of [0, 1, 2]) expect(text).toContain(`"value":"${question!.id}:${i}"`)
      await s.press(u.slack, 'parley.option.1', `${question!.id}:1`)
      const res = await held
      expect(res.json.hookSpecificOutput.decision).toEqual({
        behavior: 'allow',
        updatedPermissions: fixture('claude-code', 'permission-request-bash').permission_suggestions,
      })
      await s.fake.until(() => !blocksText(copy).includes('parley.option'), WAIT_MS)
      expect(blocksText(copy)).toContain('Allowed for this session by ann via Slack')
    }, 30_000)

    test('the agent giving up edits the Slack copy: no buttons left', async () => {
      await start()
      const u = await s.linkedUser('bo')
      const c = hookClient(s.app, u.key)
      const gone = new AbortController()
      const held = c.send('permission-request-bash', { signal: gone.signal }).catch(() => null)
      const copy = await copyFor(u.slack.userId)
      expect(blocksText(copy)).toContain('parley.option')
      gone.abort()
      await held
      await s.fake.until(() => !blocksText(copy).includes('parley.option'), WAIT_MS)
      expect(blocksText(copy)).toContain('Closed: answered at the terminal or timed out')
    }, 30_000)
  })

  describe(`hook approvals in Telegram (${kind})`, () => {
    let fake: FakeTelegram
    let testDb: TestDb
    let parley: Parley
    beforeAll(async () => {
      fake = new FakeTelegram().start()
      testDb = await freshDatabase(kind)
      parley = await startParley(
        loadConfig({
          PORT: '0',
          PUBLIC_URL: 'https://parley.example',
          TELEGRAM_BOT_TOKEN: fake.token,
          TELEGRAM_API_ROOT: fake.apiRoot,
          TELEGRAM_WEBHOOK_SECRET: 'test-secret-token',
        }),
        {
          database: testDb.database,
          quiet: true,
          telegram: { pacing: { perTargetMs: 20, perSecond: 500 }, log: () => {} },
          outbox: { log: () => {} },
        },
      )
    }, 60_000)
    afterAll(async () => {
      await parley.stop()
      fake.stop()
      await testDb.drop()
    })

    const webhook = (update: unknown) =>
      fetch(`http://127.0.0.1:${parley.port}/telegram/webhook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-telegram-bot-api-secret-token': 'test-secret-token',
        },
        body: JSON.stringify(update),
      })
    const hook = (key: string, sessionId: string, name: string) =>
      fetch(`http://127.0.0.1:${parley.port}/hooks/claude-code`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...fixture('claude-code', name), session_id: sessionId }),
      }).then((r) => r.json())

    test('Deny pressed in Telegram denies the tool, saying who; the copy loses its buttons', async () => {
      const user = await makeUser(testDb.database.db, 'tess')
      const chat = 7001 + (kind === 'postgres' ? 100 : 0)
      const code = await createLinkCode(testDb.database.db, user.id, 'telegram')
      await webhook(fake.message(chat, `/start ${code}`))
      await until(() => fake.chat(chat).some((m) => m.text.includes('Linked')), 5000, 'linked')
      const sessionId = crypto.randomUUID()
      const held = hook(user.key, sessionId, 'permission-request-edit')
      await until(() => fake.chat(chat).some((m) => m.text.includes('Allow Edit')), 5000, 'question copy')
      const copy = fake.chat(chat).find((m) => m.text.includes('Allow Edit'))!
      expect(copy.text).toContain('+let total = 0')
      const buttons = copy.reply_markup!.inline_keyboard!.flat() as { text: string; callback_data: string }[]
      expect(buttons.map((b) => b.text).slice(0, 3)).toEqual(['Allow', 'Allow for this session', 'Deny'])
      await webhook(fake.callback(chat, copy.message_id, buttons[2]!.callback_data))
      expect((await held).hookSpecificOutput.decision).toEqual({
        behavior: 'deny',
        message: 'Denied by tess via Telegram',
      })
      await until(() => (fake.find(chat, copy.message_id)?.edits ?? 0) > 0, 5000, 'lock edit')
      const locked = fake.find(chat, copy.message_id)!
      expect(locked.reply_markup).toBeUndefined()
      expect(locked.text).toContain('Denied by tess via Telegram')
    }, 20_000)
  })
}
