// The inbox a person sees: own and shared instances, waiting ones first, previews, unread counts
// from their own read position, presence, search over names and message text, filters, and
// cursor pages that neither skip nor repeat rows.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { inboxPage, inboxRow, normalizeFilters } from '../../src/core/inbox.ts'
import { deleteInstance, renameInstance, shareInstance } from '../../src/core/instance-admin.ts'
import { heartbeat } from '../../src/core/instances.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { markSeen } from '../../src/core/thread.ts'
import { dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`inbox (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    let bob: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
      bob = await makeUser(t.database.db, 'bob')
    }, 60_000)
    afterAll(() => t.close())

    const say = (userId: string, instanceId: string, content: string, ask = false, agentType = 'claude') =>
      postAgentMessage(t.core, { userId, instanceId, agentType, content, requiresUserInput: ask })
    const page = (userId: string, f: Parameters<typeof normalizeFilters>[0] = {}) =>
      inboxPage(t.core, userId, normalizeFilters(f))

    test('waiting instances first, then latest activity; preview, unread and presence per row', async () => {
      const u = await makeUser(t.database.db, 'order')
      const [a, b, c] = [uuid(), uuid(), uuid()]
      await say(u.id, a, 'first')
      await say(u.id, b, 'Deploy now? [YES/NO]', true, 'codex')
      await say(u.id, c, 'third, newest')
      const { rows } = await page(u.id)
      expect(rows.map((r) => r.id)).toEqual([b, c, a])
      expect(rows[0]).toMatchObject({
        needsInput: true,
        status: 'AWAITING_INPUT',
        agentType: 'codex',
        unread: 1,
      })
      expect(rows[1]!.preview).toBe('third, newest')
      expect(rows[1]!.present).toBe(true) // an agent message counts as a heartbeat
      await t.database.query(
        `update agent_instances set last_heartbeat_at = now() - interval '61 seconds' where id = $1`,
        [a],
      )
      expect((await inboxRow(t.core, u.id, normalizeFilters({}), a))!.present).toBe(false)
      await heartbeat(t.core, u.id, a)
      expect((await inboxRow(t.core, u.id, normalizeFilters({}), a))!.present).toBe(true)
    })

    test('unread counts messages since the viewer last opened it, not their own replies', async () => {
      const id = uuid()
      const first = await say(alice.id, id, 'one')
      await say(alice.id, id, 'two')
      const row = () => inboxRow(t.core, alice.id, normalizeFilters({}), id)
      expect((await row())!.unread).toBe(2)
      await markSeen(t.core.db, alice.id, id, first.messageId)
      expect((await row())!.unread).toBe(1)
      const two = await say(alice.id, id, 'three')
      await markSeen(t.core.db, alice.id, id, two.messageId)
      await markSeen(t.core.db, alice.id, id, first.messageId) // never moves back
      await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId: id,
        content: 'my reply',
        markAsRead: false,
        channel: 'web',
      })
      expect((await row())!.unread).toBe(0)
    })

    test('shared instances appear for the other user with their access; deleted ones for nobody', async () => {
      const id = uuid()
      await say(alice.id, id, 'shared work')
      expect((await inboxRow(t.core, bob.id, normalizeFilters({}), id)) === null).toBe(true)
      await shareInstance(t.core, alice.id, id, { email: bob.email, access: 'READ' })
      const seen = await inboxRow(t.core, bob.id, normalizeFilters({}), id)
      expect(seen).toMatchObject({ sharedAccess: 'READ', preview: 'shared work', unread: 1 })
      await deleteInstance(t.core, alice.id, id)
      expect(await inboxRow(t.core, bob.id, normalizeFilters({}), id)).toBeNull()
      expect(await inboxRow(t.core, alice.id, normalizeFilters({}), id)).toBeNull()
    })

    test('search matches names and message text (wildcards literally); filters by status and type', async () => {
      const u = await makeUser(t.database.db, 'search')
      const [a, b, c] = [uuid(), uuid(), uuid()]
      await say(u.id, a, 'refactoring the parser', false, 'claude')
      await say(u.id, b, 'coverage at 50% now', true, 'codex')
      await say(u.id, c, 'nothing to see', false, 'codex')
      await renameInstance(t.core, u.id, c, 'Parser rewrite')
      const ids = async (f: Parameters<typeof normalizeFilters>[0]) =>
        (await page(u.id, f)).rows.map((r) => r.id)
      expect((await ids({ q: 'PARSER' })).sort()).toEqual([a, c].sort())
      expect(await ids({ q: '50%' })).toEqual([b])
      expect(await ids({ q: '5_%' })).toEqual([])
      expect(await ids({ status: 'AWAITING_INPUT' })).toEqual([b])
      expect((await ids({ agentType: 'Codex' })).sort()).toEqual([b, c].sort())
      expect(await ids({ agentType: 'codex', status: 'ACTIVE' })).toEqual([c])
      expect(() => normalizeFilters({ status: 'SLEEPING' })).toThrow(/status must be one of/)
      expect(() => normalizeFilters({ cursor: 'garbage' })).toThrow(/cursor/)
    })

    test('cursor pages cover every instance exactly once, in order', async () => {
      const u = await makeUser(t.database.db, 'pages')
      const made: string[] = []
      for (let i = 0; i < 7; i++) {
        const id = uuid()
        made.push(id)
        await say(u.id, id, `msg ${i}`, i % 3 === 0)
      }
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const p = await page(u.id, { limit: 3, cursor })
        expect(p.rows.length).toBeLessThanOrEqual(3)
        seen.push(...p.rows.map((r) => r.id))
        cursor = p.nextCursor
      } while (cursor)
      const all = (await page(u.id, { limit: 100 })).rows.map((r) => r.id)
      expect(seen).toEqual(all)
      expect(new Set(seen)).toEqual(new Set(made))
    })
  })
}
