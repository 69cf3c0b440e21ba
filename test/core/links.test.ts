// One links module: a chat is linked with a one-time code, and one unlink (named by the chat, as
// Telegram and Slack do, or by link id and owner, as the settings page does) removes the link and
// drops the copies still waiting for that chat.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  copyOf,
  createLinkCode,
  linkChat,
  linkedUser,
  listLinks,
  openQuestions,
  questionOfCopy,
  unlink,
} from '../../src/core/links.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`links (${kind})`, () => {
    let t: TestApp
    beforeAll(async () => {
      t = await testApp(kind)
    }, 60_000)
    afterAll(() => t.close())

    const chat = () => ({ channel: 'pigeon', target: `coop-${uuid()}` })
    const linked = async (label: string) => {
      const user = await makeUser(t.database.db, label)
      const where = chat()
      const code = await createLinkCode(t.database.db, user.id, where.channel)
      expect(await linkChat(t.database.db, code, where)).toBe(user.id)
      return { user, where }
    }
    const ask = async (userId: string) =>
      (
        await postAgentMessage(t.core, {
          userId,
          instanceId: uuid(),
          agentType: 'claude',
          content: 'Go?',
          requiresUserInput: true,
        })
      ).messageId
    const copy = async (messageId: string) =>
      (
        await t.database.query<{ state: string; last_error: string | null }>(
          'select state, last_error from deliveries where message_id = $1',
          [messageId],
        )
      )[0]

    test('a code links once; the chat then belongs to its user and lists its open questions', async () => {
      const { user, where } = await linked('links-a')
      expect(await linkedUser(t.database.db, where)).toEqual({ userId: user.id, active: true })
      const q = await ask(user.id)
      const open = await openQuestions(t.database.db, { userId: user.id, chat: where })
      expect(open.map((o) => [o.id, o.question])).toEqual([[q, 'Go?']])
      expect(await openQuestions(t.database.db, { userId: user.id, chat: chat() })).toEqual([])
    })

    test('unlink by chat drops the copies waiting for it', async () => {
      const { user, where } = await linked('links-b')
      const q = await ask(user.id)
      expect(await copy(q)).toEqual({ state: 'pending', last_error: null })
      expect(await unlink(t.database.db, where)).toBe(true)
      expect(await copy(q)).toEqual({ state: 'failed', last_error: 'unlinked' })
      expect(await linkedUser(t.database.db, where)).toBeNull()
      expect(await unlink(t.database.db, where)).toBe(false)
    })

    test("unlink by id works for the link's owner only, and drops the copies waiting for it", async () => {
      const { user, where } = await linked('links-c')
      const other = await makeUser(t.database.db, 'links-d')
      const q = await ask(user.id)
      const [row] = await listLinks(t.database.db, user.id)
      expect(row).toMatchObject({ channel: where.channel, target: where.target, active: true })
      expect(await unlink(t.database.db, { userId: other.id, id: row!.id })).toBe(false)
      expect(await copy(q)).toEqual({ state: 'pending', last_error: null })
      expect(await unlink(t.database.db, { userId: user.id, id: row!.id })).toBe(true)
      expect(await copy(q)).toEqual({ state: 'failed', last_error: 'unlinked' })
      expect(await listLinks(t.database.db, user.id)).toEqual([])
    })

    test('relinking a chat to someone else drops what was on its way to the previous user', async () => {
      const { user, where } = await linked('links-e')
      const q = await ask(user.id)
      const next = await makeUser(t.database.db, 'links-f')
      const code = await createLinkCode(t.database.db, next.id, where.channel)
      expect(await linkChat(t.database.db, code, where)).toBe(next.id)
      expect(await linkChat(t.database.db, code, where)).toBeNull()
      expect(await copy(q)).toEqual({ state: 'failed', last_error: 'linked to another user' })
      expect(await linkedUser(t.database.db, where)).toEqual({ userId: next.id, active: true })
    })

    test('a copy is found by its external ref: a question copy with its question, a status copy with its instance only', async () => {
      const { user, where } = await linked('links-g')
      await t.database.query(
        `update users set notification_prefs = '{"progress":{"pigeon":true}}' where id = $1`,
        [user.id],
      )
      const q = await ask(user.id)
      const instanceId = uuid()
      await postAgentMessage(t.core, {
        userId: user.id,
        instanceId,
        agentType: 'codex',
        content: 'Working',
        requiresUserInput: false,
      })
      const sent = (kind: string, ref: object, by: string) =>
        t.database.query(
          `update deliveries set state = 'sent', external_ref = $1::jsonb
           where kind = $2 and target = $3 and (message_id = $4 or instance_id = $4)`,
          [JSON.stringify(ref), kind, where.target, by],
        )
      await sent('question', { chat: 'c1', n: 1 }, q)
      await sent('progress', { chat: 'c1', n: 2 }, instanceId)
      const [asked] = await t.database.query<{ instance_id: string }>(
        'select instance_id from messages where id = $1',
        [q],
      )
      expect(await copyOf(t.database.db, 'pigeon', { chat: 'c1', n: 1 })).toEqual({
        instanceId: asked!.instance_id,
        instanceName: null,
        agentType: 'claude',
        questionId: q,
      })
      expect(await copyOf(t.database.db, 'pigeon', { chat: 'c1', n: 2 })).toEqual({
        instanceId,
        instanceName: null,
        agentType: 'codex',
        questionId: null,
      })
      expect(await questionOfCopy(t.database.db, 'pigeon', { chat: 'c1', n: '2' })).toBeNull()
      expect(await copyOf(t.database.db, 'pigeon', { chat: 'c1', n: 3 })).toBeNull()
      expect(await copyOf(t.database.db, 'other', { chat: 'c1', n: 2 })).toBeNull()
    })
  })
}
