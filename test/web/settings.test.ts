// Settings: keys shown once, listed and revoked (and then refused by the agent API), link codes
// that the bots can redeem, linked chats with their errors, notification prefs validated.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { sha256 } from '../../src/auth/api-keys.ts'
import { describeChatChannel } from '../../src/core/chat-channels.ts'
import { consumeLinkCode } from '../../src/core/links.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { getNotificationPrefs } from '../../src/core/notification-prefs.ts'
import { apiKeys, channelLinks, users, webSessions } from '../../src/db/schema.ts'
import { call, dbKinds, makeUser, type TestApp, testApp } from '../helpers.ts'
import { postForm, type WebSessionCookies, webGet, webLogin } from './helpers.ts'

const PASSWORD = 'correct horse battery'
const outsideAttributes = (html: string) => html.replace(/="[^"]*"/g, '=""')
const keyIn = (html: string) => html.match(/value="(prl_[A-Za-z0-9_-]+)"/)?.[1] ?? null

for (const kind of dbKinds()) {
  describe(`settings (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    let s: WebSessionCookies
    beforeAll(async () => {
      t = await testApp(kind, { telegramBotUsername: 'parley_test_bot' })
      alice = await makeUser(t.database.db, 'alice')
      s = await webLogin(t.app, alice.email, PASSWORD)
    }, 60_000)
    afterAll(() => t.close())

    test('a new key is shown once, works, is listed by prefix, and once revoked is refused by the API', async () => {
      const created = await postForm(t.app, '/settings/keys', { name: 'laptop' }, s)
      expect(created.status).toBe(201)
      const key = keyIn(created.text)!
      expect(key).toStartWith('prl_')
      expect((await call(t.app, 'GET', '/api/v1/auth/verify', { key })).status).toBe(200)
      const list = await webGet(t.app, '/settings', s)
      expect(list.text).not.toContain(key)
      expect(list.text).toContain(`${key.slice(0, 12)}…`)
      expect(list.text).toContain('laptop')
      const [row] = await t.database.db
        .select()
        .from(apiKeys)
        .where(eq(apiKeys.keyPrefix, key.slice(0, 12)))
      // Its use shows as "last used" once the batched timestamps are written.
      const rowOf = (html: string) => html.slice(html.indexOf(`${key.slice(0, 12)}…`)).split('</tr>')[0]!
      expect(rowOf(list.text)).toContain('never')
      await t.keys.flush()
      expect(rowOf((await webGet(t.app, '/settings', s)).text)).not.toContain('never')
      const revoked = await postForm(t.app, `/settings/keys/${row!.id}/revoke`, {}, s)
      expect(revoked.status).toBe(303)
      expect(revoked.location).toStartWith('/settings?done=key-revoked')
      expect((await call(t.app, 'GET', '/api/v1/auth/verify', { key })).status).toBe(401)
      expect((await webGet(t.app, '/settings?done=key-revoked', s)).text).toContain('Key revoked')
    }, 30_000)

    test('a key name with markup is escaped; an empty or too long name is refused naming the field', async () => {
      const name = '<script>alert(1)</script>" onmouseover="x'
      const res = await postForm(t.app, '/settings/keys', { name }, s)
      expect(res.status).toBe(201)
      expect(outsideAttributes(res.text)).not.toContain('<script>alert(1)')
      expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
      expect(res.text).not.toContain('" onmouseover="x')
      const before = await t.database.db.select().from(apiKeys).where(eq(apiKeys.userId, alice.id))
      const empty = await postForm(t.app, '/settings/keys', { name: '  ' }, s)
      expect(empty.status).toBe(422)
      expect(empty.text).toContain('Key name is required')
      const long = await postForm(t.app, '/settings/keys', { name: 'x'.repeat(101) }, s)
      expect(long.status).toBe(422)
      const after = await t.database.db.select().from(apiKeys).where(eq(apiKeys.userId, alice.id))
      expect(after).toHaveLength(before.length)
    }, 30_000)

    test('creating a key without the CSRF token is refused and creates nothing', async () => {
      const before = await t.database.db.select().from(apiKeys).where(eq(apiKeys.userId, alice.id))
      const res = await postForm(t.app, '/settings/keys', { name: 'forged' }, s, { csrf: false })
      expect(res.status).toBe(403)
      const after = await t.database.db.select().from(apiKeys).where(eq(apiKeys.userId, alice.id))
      expect(after).toHaveLength(before.length)
    }, 30_000)

    test("someone else's key cannot be revoked", async () => {
      const bob = await makeUser(t.database.db, 'bob')
      const res = await postForm(t.app, `/settings/keys/${bob.keyId}/revoke`, {}, s)
      expect(res.status).toBe(404)
      expect((await call(t.app, 'GET', '/api/v1/auth/verify', { key: bob.key })).status).toBe(200)
    }, 30_000)

    test('a Telegram code comes with a t.me deep link and links once; a Slack code says /parley link', async () => {
      const tg = await postForm(t.app, '/settings/links/code', { channel: 'telegram' }, s)
      expect(tg.status).toBe(201)
      const link = tg.text.match(/https:\/\/t\.me\/parley_test_bot\?start=([A-Z0-9]+)/)
      expect(link).not.toBeNull()
      expect(await consumeLinkCode(t.database.db, link![1]!, 'telegram')).toBe(alice.id)
      expect(await consumeLinkCode(t.database.db, link![1]!, 'telegram')).toBeNull()
      const slack = await postForm(t.app, '/settings/links/code', { channel: 'slack' }, s)
      const code = slack.text.match(/\/parley link ([A-Z0-9]+)/)?.[1]
      expect(code).toBeDefined()
      expect(await consumeLinkCode(t.database.db, code!, 'slack')).toBe(alice.id)
      const bad = await postForm(t.app, '/settings/links/code', { channel: 'email' }, s)
      expect(bad.status).toBe(422)
      expect(bad.text).toContain('channel must be telegram or slack')
    }, 30_000)

    test('linked chats are listed with active state and last error (escaped), and can be unlinked', async () => {
      const [tg] = await t.database.db
        .insert(channelLinks)
        .values({
          userId: alice.id,
          channel: 'telegram',
          target: '4242',
          chatId: '4242',
          active: false,
          lastError: 'Forbidden: <bot was blocked>',
        })
        .returning()
      const [sl] = await t.database.db
        .insert(channelLinks)
        .values({ userId: alice.id, channel: 'slack', target: 'T1:U9', teamId: 'T1', externalUserId: 'U9' })
        .returning()
      const page = await webGet(t.app, '/settings', s)
      expect(page.text).toContain('Telegram chat 4242')
      expect(page.text).toContain('Slack user U9 in T1')
      expect(page.text).toContain('inactive')
      expect(page.text).toContain('Forbidden: &lt;bot was blocked&gt;')
      const bob = await makeUser(t.database.db, 'bob2')
      const [bobs] = await t.database.db
        .insert(channelLinks)
        .values({ userId: bob.id, channel: 'telegram', target: '77', chatId: '77' })
        .returning()
      expect((await postForm(t.app, `/settings/links/${bobs!.id}/unlink`, {}, s)).status).toBe(404)
      expect(
        await t.database.db.select().from(channelLinks).where(eq(channelLinks.id, bobs!.id)),
      ).toHaveLength(1)
      const res = await postForm(t.app, `/settings/links/${tg!.id}/unlink`, {}, s)
      expect(res.status).toBe(303)
      const left = await t.database.db.select().from(channelLinks).where(eq(channelLinks.userId, alice.id))
      expect(left.map((l) => l.id)).toEqual([sl!.id])
    }, 30_000)

    test('a deactivated link is reactivated from settings: its owner only, then it receives copies again', async () => {
      const dan = await makeUser(t.database.db, 'dan')
      const ds = await webLogin(t.app, dan.email, 'correct horse battery')
      const [link] = await t.database.db
        .insert(channelLinks)
        .values({
          userId: dan.id,
          channel: 'telegram',
          target: '6161',
          chatId: '6161',
          active: false,
          lastError: '403 Forbidden: bot was blocked by the user',
        })
        .returning()
      const page = await webGet(t.app, '/settings', ds)
      expect(page.text).toContain(`/settings/links/${link!.id}/reactivate`)
      // Someone else's session cannot turn it on.
      expect((await postForm(t.app, `/settings/links/${link!.id}/reactivate`, {}, s)).status).toBe(404)
      const row = async () =>
        (await t.database.db.select().from(channelLinks).where(eq(channelLinks.id, link!.id)))[0]!
      expect((await row()).active).toBe(false)
      const res = await postForm(t.app, `/settings/links/${link!.id}/reactivate`, {}, ds)
      expect(res.status).toBe(303)
      expect(res.location).toBe('/settings?done=reactivated#channels')
      expect(await row()).toMatchObject({ active: true, lastError: null })
      expect((await webGet(t.app, '/settings', ds)).text).not.toContain(
        `/settings/links/${link!.id}/reactivate`,
      )
      const q = await postAgentMessage(t.core, {
        userId: dan.id,
        instanceId: crypto.randomUUID(),
        agentType: 'claude',
        content: 'Back? [YES/NO]',
        requiresUserInput: true,
      })
      const copies = await t.database.query('select 1 from deliveries where message_id = $1', [q.messageId])
      expect(copies).toHaveLength(1)
    }, 30_000)

    test('unlinking from the settings page drops the copies still waiting for that chat', async () => {
      const carol = await makeUser(t.database.db, 'carol')
      const cs = await webLogin(t.app, carol.email, 'correct horse battery')
      const [link] = await t.database.db
        .insert(channelLinks)
        .values({ userId: carol.id, channel: 'telegram', target: '5151', chatId: '5151' })
        .returning()
      const q = await postAgentMessage(t.core, {
        userId: carol.id,
        instanceId: crypto.randomUUID(),
        agentType: 'claude',
        content: 'Merge? [YES/NO]',
        requiresUserInput: true,
      })
      const copy = () =>
        t.database.query<{ state: string; last_error: string | null }>(
          'select state, last_error from deliveries where message_id = $1',
          [q.messageId],
        )
      expect(await copy()).toEqual([{ state: 'pending', last_error: null }])
      expect((await postForm(t.app, `/settings/links/${link!.id}/unlink`, {}, cs)).status).toBe(303)
      expect(await copy()).toEqual([{ state: 'failed', last_error: 'unlinked' }])
    }, 30_000)

    test('notification prefs are saved in the outbox format; bad input names the field and changes nothing', async () => {
      const ok = await postForm(
        t.app,
        '/settings/notifications',
        { questions_slack: 'on', progress_telegram: 'on', quiet_start: '22:00', quiet_end: '07:30' },
        s,
      )
      expect(ok.status).toBe(303)
      const [row] = await t.database.db.select().from(users).where(eq(users.id, alice.id))
      expect(row!.notificationPrefs).toEqual({
        questions: { telegram: false, slack: true, push: false },
        progress: { telegram: true, slack: false, push: false },
        quiet: { start: '22:00', end: '07:30' },
      })
      const page = await webGet(t.app, '/settings', s)
      expect(page.text).toMatch(/name="questions_slack" value="on" checked/)
      expect(page.text).toContain('value="22:00"')
      const cases: [Record<string, string>, string][] = [
        [{ quiet_start: '24:00', quiet_end: '07:00' }, 'quiet.start must be a time of day'],
        [{ quiet_start: '22:00' }, 'quiet.end is required'],
        [{ quiet_end: '07:00' }, 'quiet.start is required'],
        [{ questions_telegram: 'yes please' }, 'questions.telegram must be on or left out'],
      ]
      for (const [fields, message] of cases) {
        const bad = await postForm(t.app, '/settings/notifications', fields, s)
        expect(bad.status).toBe(422)
        expect(bad.text).toContain(message)
      }
      const prefs = await getNotificationPrefs(t.database.db, alice.id)
      expect(prefs.quiet).toEqual({ start: '22:00', end: '07:30' })
      expect(prefs.questions.slack).toBe(true)
      // Clearing both times removes quiet hours.
      await postForm(
        t.app,
        '/settings/notifications',
        { questions_telegram: 'on', quiet_start: '', quiet_end: '' },
        s,
      )
      expect((await getNotificationPrefs(t.database.db, alice.id)).quiet).toBeNull()
    }, 30_000)

    test('the notification toggles are the described chat channels, labelled by their adapters', async () => {
      const forget = describeChatChannel({ channel: 'owl', label: 'Owl post' })
      try {
        const page = await webGet(t.app, '/settings', s)
        for (const kind of ['questions', 'progress']) {
          for (const c of ['telegram', 'slack', 'owl']) expect(page.text).toContain(`name="${kind}_${c}"`)
        }
        expect(outsideAttributes(page.text)).toContain('Owl post')
        await postForm(t.app, '/settings/notifications', { questions_owl: 'on' }, s)
        const prefs = await getNotificationPrefs(t.database.db, alice.id)
        expect(prefs.questions).toEqual({ telegram: false, slack: false, push: false, owl: true })
      } finally {
        forget()
      }
    }, 30_000)

    test('the display name can be changed, is escaped in the nav, and a too long one is refused', async () => {
      const evil = '<script>alert("name")</script>'
      const res = await postForm(t.app, '/settings/profile', { display_name: evil }, s)
      expect(res.status).toBe(303)
      const page = await webGet(t.app, '/settings?done=profile-saved', s)
      expect(page.text).toContain(
        '<span class="who">&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;</span>',
      )
      expect(outsideAttributes(page.text)).not.toContain('<script>alert')
      const long = await postForm(t.app, '/settings/profile', { display_name: 'x'.repeat(101) }, s)
      expect(long.status).toBe(422)
      expect(long.text).toContain('Display name must be at most 100 characters')
      const [row] = await t.database.db.select().from(users).where(eq(users.id, alice.id))
      expect(row!.displayName).toBe(evil)
      await postForm(t.app, '/settings/profile', { display_name: 'alice' }, s)
    }, 30_000)

    test('other logged-in browsers are listed and can be logged out, one or all; not other people’s', async () => {
      const sessionId = async (c: WebSessionCookies) => {
        const token = c.cookie.split('=')[1]!
        const [row] = await t.database.db
          .select()
          .from(webSessions)
          .where(eq(webSessions.tokenHash, sha256(token)))
        return row!.id
      }
      const phone = await webLogin(t.app, alice.email, PASSWORD)
      const tablet = await webLogin(t.app, alice.email, PASSWORD)
      const page = await webGet(t.app, '/settings', s)
      expect(page.text).toContain('this browser')
      expect(page.text).toContain(`/settings/sessions/${await sessionId(phone)}/revoke`)
      expect(page.text).not.toContain(`/settings/sessions/${await sessionId(s)}/revoke`)
      const one = await postForm(t.app, `/settings/sessions/${await sessionId(phone)}/revoke`, {}, s)
      expect(one.status).toBe(303)
      expect((await webGet(t.app, '/settings', phone)).status).toBe(303)
      expect((await webGet(t.app, '/settings', tablet)).status).toBe(200)
      const mallory = await makeUser(t.database.db, 'mallory')
      const theirs = await webLogin(t.app, mallory.email, PASSWORD)
      expect(
        (await postForm(t.app, `/settings/sessions/${await sessionId(theirs)}/revoke`, {}, s)).status,
      ).toBe(404)
      expect((await webGet(t.app, '/', theirs)).status).toBe(200)
      expect((await postForm(t.app, '/settings/sessions/revoke-others', {}, s)).status).toBe(303)
      expect((await webGet(t.app, '/settings', tablet)).status).toBe(303)
      expect((await webGet(t.app, '/settings', s)).status).toBe(200)
    }, 30_000)

    test('every control on the settings page has a label', async () => {
      const html = (await webGet(t.app, '/settings', s)).text
      const ids = [...html.matchAll(/<input id="([^"]+)"/g)].map((m) => m[1])
      for (const id of ids) expect(html).toContain(`for="${id}"`)
      // Checkboxes are wrapped in their label.
      expect(html.match(/type="checkbox"/g)?.length).toBe(6)
      expect(html.match(/<label class="check"><input type="checkbox"/g)?.length).toBe(6)
    }, 30_000)
  })
}
