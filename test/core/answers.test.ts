// First answer wins: one conditional UPDATE decides, a second answer is kept as a message and
// reported as already answered; presence turns DISCONNECTED after the heartbeat limit.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { answerNotice, CLOSED_AT_TERMINAL, CLOSED_VIA, TIMED_OUT } from '../../src/core/answer-wording.ts'
import { answerQuestion, closeQuestion } from '../../src/core/answers.ts'
import { newMessageId } from '../../src/core/context.ts'
import { shareInstance } from '../../src/core/instance-admin.ts'
import { heartbeat } from '../../src/core/instances.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { waitForAnswer } from '../../src/core/pending.ts'
import { Presence } from '../../src/core/presence.ts'
import type { BusEvent } from '../../src/events/bus.ts'
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
      const answer = (text: string, channel: string) =>
        answerQuestion(t.core, {
          actorUserId: alice.id,
          instanceId: id,
          answer: { text },
          channel,
          questionId: q.messageId,
        })
      const [a, b] = await Promise.all([answer('Yes', 'slack'), answer('No', 'telegram')])
      const winners = [a, b].filter((r) => r.status === 'answered' && r.answered.includes(q.messageId))
      const losers = [a, b].filter((r) => r.status === 'already')
      expect(winners).toHaveLength(1)
      expect(losers).toHaveLength(1)
      const [winner, loser] = [winners[0]!, losers[0]!]
      expect(loser.status === 'already' && loser.first).toMatchObject({
        by: 'alice',
        via: winner.status === 'answered' ? (winner.answer === 'Yes' ? 'slack' : 'telegram') : '',
        answer: winner.status === 'answered' ? winner.answer : '',
      })
      const rows = await t.database.query<{
        sender: string
        answer_message_id: string | null
        answered_via: string
      }>('select sender, answer_message_id, answered_via from messages where instance_id = $1 order by id', [
        id,
      ])
      expect(rows).toHaveLength(3) // the question and both answers are kept
      expect(rows[0]!.answer_message_id).toBe(winner.status === 'answered' ? winner.messageId : '')
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
      expect(again.outcome.status).toBe('answered')
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
      expect(r.outcome).toMatchObject({ status: 'closed', first: { reason: TIMED_OUT } })
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

    test("in a long session, an answer finds the question it closes without reading the session's messages", async () => {
      const id = uuid()
      await ask(id, 'First?')
      // 600 earlier messages, as a long session has: questions answered, and the answers. The planner
      // may pick an index that holds them all, and read through them.
      const ids = Array.from({ length: 600 }, () => newMessageId())
      await t.database.query(
        `insert into messages (id, instance_id, user_id, sender, content, requires_user_input, answered_at)
         select m, $1, $2, case when n % 2 = 0 then 'AGENT' else 'USER' end, 'step', n % 2 = 0,
           case when n % 2 = 0 then now() end
         from unnest($3::uuid[]) with ordinality as x(m, n)`,
        [id, alice.id, ids],
      )
      await t.database.query('analyze messages')
      await answerQuestion(t.core, {
        actorUserId: alice.id,
        instanceId: id,
        answer: { text: 'ok' },
        channel: 'api',
      })
      await ask(id)
      // The answer's statement, run under EXPLAIN ANALYZE in its place.
      type PlanNode = {
        'Relation Name'?: string
        'Index Name'?: string
        'Index Cond'?: string
        'Rows Removed by Filter'?: number
        Plans?: PlanNode[]
      }
      let plan: PlanNode | null = null
      const db = new Proxy(t.core.db, {
        get(target, prop) {
          if (prop !== 'execute') return Reflect.get(target, prop)
          return async (query: { toQuery(c: object): { sql: string; params: unknown[] } }) => {
            const { sql: text, params } = query.toQuery({})
            const [row] = await t.database.query<Record<string, unknown>>(
              `explain (analyze, format json) ${text}`,
              params,
            )
            const json = Object.values(row!)[0]
            plan = (typeof json === 'string' ? JSON.parse(json) : json)[0].Plan
            throw new Error('explained')
          }
        },
      })
      await expect(
        answerQuestion(
          { ...t.core, db, answerDb: db },
          { actorUserId: alice.id, instanceId: id, answer: { text: 'yes' }, channel: 'api' },
        ),
      ).rejects.toThrow('explained')
      const nodes: PlanNode[] = []
      const walk = (node: PlanNode) => {
        nodes.push(node)
        node.Plans?.forEach(walk)
      }
      walk(plan!)
      // The questions it closes (open, before the answer) are found in the open-questions index,
      // bounded there by the answer's id; no scan of messages filters out what it read.
      const open = nodes.filter((n) => n['Index Name'] === 'messages_open_questions_idx')
      expect(open.map((n) => n['Index Cond'])).toEqual([expect.stringMatching(/\bid < /)])
      const scans = nodes.filter((n) => n['Relation Name'] === 'messages')
      expect(Math.max(...scans.map((n) => n['Rows Removed by Filter'] ?? 0))).toBeLessThan(10)
    })
  })
}

for (const kind of dbKinds()) {
  describe(`answerQuestion and closeQuestion (${kind})`, () => {
    let t: TestApp
    let ann: Awaited<ReturnType<typeof makeUser>>
    let bob: Awaited<ReturnType<typeof makeUser>>
    let reader: Awaited<ReturnType<typeof makeUser>>
    const events: BusEvent[] = []
    beforeAll(async () => {
      t = await testApp(kind)
      ann = await makeUser(t.database.db, 'Ann')
      bob = await makeUser(t.database.db, 'Bob')
      reader = await makeUser(t.database.db, 'Reader')
      t.core.bus.subscribe('all', (e) => events.push(e))
    }, 60_000)
    afterAll(() => t.close())

    const ask = async (content = 'Ship? [YES/NO]') => {
      const instanceId = uuid()
      const q = await postAgentMessage(t.core, {
        userId: ann.id,
        instanceId,
        agentType: 'x',
        content,
        requiresUserInput: true,
      })
      await shareInstance(t.core, ann.id, instanceId, { email: bob.email, access: 'WRITE' })
      await shareInstance(t.core, ann.id, instanceId, { email: reader.email, access: 'READ' })
      return { instanceId, questionId: q.messageId }
    }
    const row = async (id: string) =>
      (
        await t.database.query<{
          answered_at: unknown
          answered_by: string | null
          answered_via: string | null
          answer: string | null
          metadata: Record<string, unknown> | null
        }>(
          `select q.answered_at, q.answered_by, q.answered_via, a.content as answer, q.metadata
           from messages q left join messages a on a.id = q.answer_message_id where q.id = $1`,
          [id],
        )
      )[0]!
    const userMessages = async (instanceId: string) =>
      (
        await t.database.query<{ n: number }>(
          `select count(*)::int as n from messages where instance_id = $1 and sender = 'USER'`,
          [instanceId],
        )
      )[0]!.n
    const eventsFor = (questionId: string) =>
      events.filter((e) => e.type === 'question.answered' && e.questionId === questionId)

    test('a button answer records who, via which channel and when, and publishes one event', async () => {
      const q = await ask()
      const outcome = await answerQuestion(t.core, {
        actorUserId: bob.id,
        questionId: q.questionId,
        answer: { option: 0 },
        channel: 'slack',
        allowShared: true,
      })
      expect(outcome).toMatchObject({ status: 'answered', answer: 'Yes', answered: [q.questionId] })
      const r = await row(q.questionId)
      expect(r).toMatchObject({ answered_by: bob.id, answered_via: 'slack', answer: 'Yes' })
      expect(r.answered_at).not.toBeNull()
      expect(eventsFor(q.questionId)).toHaveLength(1)
      expect(answerNotice(outcome)).toBeNull()
    })

    test('a button on an answered question writes nothing and says who answered', async () => {
      const q = await ask()
      await answerQuestion(t.core, {
        actorUserId: ann.id,
        questionId: q.questionId,
        answer: { option: 1 },
        channel: 'telegram',
      })
      const before = await userMessages(q.instanceId)
      const late = await answerQuestion(t.core, {
        actorUserId: bob.id,
        questionId: q.questionId,
        answer: { option: 0 },
        channel: 'web',
        allowShared: true,
      })
      expect(late).toMatchObject({
        status: 'already',
        messageId: null,
        first: { by: 'Ann', via: 'telegram' },
      })
      expect(await userMessages(q.instanceId)).toBe(before)
      expect(eventsFor(q.questionId)).toHaveLength(1)
      expect(answerNotice(late)).toMatch(
        /^Already answered by Ann via Telegram · .* UTC\. Your choice was not sent\.$/,
      )
    })

    test('a typed reply to an answered question is kept as a message', async () => {
      const q = await ask()
      await answerQuestion(t.core, {
        actorUserId: ann.id,
        instanceId: q.instanceId,
        answer: { text: 'go' },
        channel: 'api',
      })
      const late = await answerQuestion(t.core, {
        actorUserId: bob.id,
        questionId: q.questionId,
        answer: { text: 'wait!' },
        channel: 'slack',
        allowShared: true,
      })
      expect(late.status).toBe('already')
      expect(late.status === 'already' && late.messageId).toBeTruthy()
      expect(await userMessages(q.instanceId)).toBe(2)
      expect((await row(q.questionId)).answer).toBe('go')
      expect(answerNotice(late)).toEndWith('Your reply was kept as a message.')
    })

    test('refused: read-only sharing, a stranger, an option that does not exist; nothing written', async () => {
      const q = await ask()
      const stranger = await makeUser(t.database.db, 'Stranger')
      const tries = [
        [reader.id, { option: 0 }, 'FORBIDDEN'],
        [stranger.id, { option: 0 }, 'NOT_FOUND'],
        [ann.id, { option: 7 }, 'INVALID'],
      ] as const
      for (const [actorUserId, answer, code] of tries) {
        const r = await answerQuestion(t.core, {
          actorUserId,
          questionId: q.questionId,
          answer,
          channel: 'web',
          allowShared: true,
        })
        expect(r).toMatchObject({ status: 'refused', code })
      }
      expect(await userMessages(q.instanceId)).toBe(0)
      expect((await row(q.questionId)).answered_at).toBeNull()
    })

    test('a reply written before the question answers it when named by id, without a second message', async () => {
      const q = await ask('plain step')
      const instanceId = q.instanceId
      const reply = await answerQuestion(t.core, {
        actorUserId: bob.id,
        instanceId,
        answer: { text: 'early' },
        channel: 'web',
        allowShared: true,
      })
      const late = await postAgentMessage(t.core, {
        userId: ann.id,
        instanceId,
        content: 'now?',
        requiresUserInput: true,
      })
      // The reply came before this question: it cannot answer it by the usual rule.
      const r = await answerQuestion(t.core, {
        actorUserId: ann.id,
        questionId: late.messageId,
        answer: { messageId: reply.status === 'answered' ? reply.messageId! : '' },
        channel: 'api',
      })
      expect(r.status).toBe('answered')
      expect(r.status === 'answered' && r.answered).toEqual([])
    })

    test('a waiter stops waiting when its question is closed', async () => {
      const q = await ask()
      const started = Date.now()
      const waiting = waitForAnswer(t.core, {
        userId: ann.id,
        instanceId: q.instanceId,
        questionId: q.questionId,
        deadline: Date.now() + 20_000,
      })
      expect(await closeQuestion(t.core, { userId: ann.id, questionId: q.questionId })).toBe(true)
      expect(await waiting).toBeNull()
      expect(Date.now() - started).toBeLessThan(10_000)
    })

    test('closeQuestion closes with the reason, publishes, and a later button is refused as closed', async () => {
      const q = await ask()
      expect(await closeQuestion(t.core, { userId: bob.id, questionId: q.questionId })).toBe(false)
      expect(await closeQuestion(t.core, { userId: ann.id, questionId: q.questionId })).toBe(true)
      expect(await closeQuestion(t.core, { userId: ann.id, questionId: q.questionId })).toBe(false)
      const r = await row(q.questionId)
      expect(r).toMatchObject({ answered_via: CLOSED_VIA, answered_by: null, answer: null })
      expect(r.metadata).toMatchObject({ closed_reason: CLOSED_AT_TERMINAL })
      const published = eventsFor(q.questionId)
      expect(published).toEqual([
        {
          type: 'question.answered',
          userId: ann.id,
          instanceId: q.instanceId,
          questionId: q.questionId,
          answerId: null,
        },
      ])
      const status = events.findLast((e) => e.type === 'instance.updated' && e.instanceId === q.instanceId)
      expect(status).toMatchObject({ status: 'ACTIVE' })
      const press = await answerQuestion(t.core, {
        actorUserId: ann.id,
        questionId: q.questionId,
        answer: { option: 0 },
        channel: 'web',
      })
      expect(press).toMatchObject({ status: 'closed', messageId: null })
      expect(answerNotice(press)).toBe(
        `This question is closed: ${CLOSED_AT_TERMINAL}. Your choice was not sent.`,
      )
      expect(await userMessages(q.instanceId)).toBe(0)
    })
  })
}
