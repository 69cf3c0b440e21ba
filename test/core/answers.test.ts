// First answer wins: one conditional UPDATE decides, a second answer is kept as a message and
// reported as already answered; presence turns DISCONNECTED after the heartbeat limit.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { heartbeat } from '../../src/core/instances.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { Presence } from '../../src/core/presence.ts'
import { dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`answering (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
    }, 60_000)
    afterAll(() => t.close())

    const ask = (instanceId: string, content = 'Ship? [YES/NO]') =>
      postAgentMessage(t.core, {
        userId: alice.id,
        instanceId,
        agentType: 'x',
        content,
        requiresUserInput: true,
      })

    test('two people answering the same question at once: exactly one wins', async () => {
      const id = uuid()
      const q = await ask(id)
      const answer = (content: string, channel: string) =>
        postUserMessage(t.core, {
          actorUserId: alice.id,
          instanceId: id,
          content,
          markAsRead: false,
          channel,
          questionId: q.messageId,
        })
      const [a, b] = await Promise.all([answer('Yes', 'slack'), answer('No', 'telegram')])
      const winners = [a, b].filter((r) => r.answered.includes(q.messageId))
      const losers = [a, b].filter((r) => r.alreadyAnswered)
      expect(winners).toHaveLength(1)
      expect(losers).toHaveLength(1)
      expect(losers[0]!.alreadyAnswered!.answerId).toBe(winners[0]!.messageId)
      expect(losers[0]!.alreadyAnswered!.by).toBe(alice.id)
      const rows = await t.database.query<{
        sender: string
        answer_message_id: string | null
        answered_via: string
      }>('select sender, answer_message_id, answered_via from messages where instance_id = $1 order by id', [
        id,
      ])
      expect(rows).toHaveLength(3) // the question and both answers are kept
      expect(rows[0]!.answer_message_id).toBe(winners[0]!.messageId)
    })

    test('a plain user message answers every open question before it, and later ones none', async () => {
      const id = uuid()
      const q1 = await ask(id, 'first?')
      const q2 = await ask(id, 'second?')
      const r = await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId: id,
        content: 'yes',
        markAsRead: false,
        channel: 'web',
      })
      expect(r.answered.sort()).toEqual([q1.messageId, q2.messageId].sort())
      const again = await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId: id,
        content: 'more',
        markAsRead: false,
        channel: 'web',
      })
      expect(again.answered).toEqual([])
      expect(again.alreadyAnswered).toBeNull()
    })

    test('an expired question (timeout_seconds) no longer takes answers', async () => {
      const id = uuid()
      const q = await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId: id,
        agentType: 'x',
        content: 'quick?',
        requiresUserInput: true,
        timeoutSeconds: 1,
      })
      await Bun.sleep(1100)
      const r = await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId: id,
        content: 'too late',
        markAsRead: false,
        channel: 'web',
        questionId: q.messageId,
      })
      expect(r.answered).toEqual([])
      expect(r.alreadyAnswered).not.toBeNull()
    })

    test('an instance without heartbeat turns DISCONNECTED, and a heartbeat brings it back', async () => {
      const presence = new Presence(t.core, 300)
      await presence.start()
      try {
        const id = uuid()
        await ask(id)
        const status = async () =>
          (
            await t.database.query<{ status: string }>('select status from agent_instances where id = $1', [
              id,
            ])
          )[0]!.status
        expect(await status()).toBe('AWAITING_INPUT')
        let s = ''
        for (let i = 0; i < 50 && s !== 'DISCONNECTED'; i++) {
          await Bun.sleep(50)
          s = await status()
        }
        expect(s).toBe('DISCONNECTED')
        await heartbeat(t.core, alice.id, id)
        expect(await status()).toBe('AWAITING_INPUT')
      } finally {
        presence.stop()
      }
    })
  })
}
