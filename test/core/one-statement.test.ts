// An agent message on an existing instance, and a typed answer, are one statement (one round trip)
// that also sends its NOTIFY; and neither may miss what the other commits while it waits for the
// instance lock, which a single-snapshot statement would (see src/core/one-statement.ts).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { answerQuestion } from '../../src/core/answers.ts'
import { hookSession, recordPrompt } from '../../src/core/hooks/session.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { recordSent } from '../../src/core/outbox-store.ts'
import { connectPostgres } from '../../src/db/client.ts'
import type { BusEvent, EventBus } from '../../src/events/bus.ts'
import { PostgresBus } from '../../src/events/postgres.ts'
import {
  dbKinds,
  freshDatabase,
  hasPostgres,
  makeUser,
  type TestApp,
  type TestDb,
  testApp,
  until,
  uuid,
} from '../helpers.ts'

/** The events of an agent's question: the message, and the instance now awaiting input. */
const questionEvents = (userId: string, instanceId: string, messageId: string): BusEvent[] => [
  { type: 'message.created', userId, instanceId, messageId, sender: 'AGENT', question: true },
  { type: 'instance.updated', userId, instanceId, status: 'AWAITING_INPUT' },
]

for (const kind of dbKinds()) {
  describe(`agent message in one statement (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
    }, 60_000)
    afterAll(() => t.close())

    const post = (instanceId: string, content: string, extra: { requiresUserInput?: boolean } = {}) =>
      postAgentMessage(t.core, {
        userId: alice.id,
        instanceId,
        agentType: 'x',
        content,
        requiresUserInput: extra.requiresUserInput ?? false,
      })

    test('one statement returns the queued replies, moves the cursor and publishes its events', async () => {
      const instanceId = uuid()
      await post(instanceId, 'first')
      const reply = await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId,
        content: 'also the docs',
        markAsRead: false,
        channel: 'web',
      })
      const heard: BusEvent[] = []
      const unsubscribe = t.bus.subscribe({ instanceId }, (e) => heard.push(e))
      const before = t.database.queryCount()
      const result = await post(instanceId, 'Which one? [YES/NO]', { requiresUserInput: true })
      expect(t.database.queryCount() - before).toBe(1)
      unsubscribe()
      expect(result.queued.map((m) => [m.id, m.content, m.sender])).toEqual([
        [reply.messageId, 'also the docs', 'USER'],
      ])
      expect(result.status).toBe('AWAITING_INPUT')
      expect(heard).toEqual(questionEvents(alice.id, instanceId, result.messageId))
      expect((await post(instanceId, 'next')).queued).toEqual([])
    })

    /** A bus whose NOTIFY never completes: its listeners here have the events, the others never. */
    const stalledBus = (behind: boolean) => {
      const heard: BusEvent[] = []
      const bus: EventBus = {
        subscribe: (topic, fn) => t.bus.subscribe(topic, fn),
        publish: (e) => {
          heard.push(e)
          return new Promise(() => {})
        },
        size: () => t.bus.size(),
        close: async () => {},
        behind: () => behind,
      }
      return { bus, heard }
    }
    const ask = (bus: EventBus, instanceId: string) =>
      Promise.race([
        postAgentMessage(
          { ...t.core, bus },
          {
            userId: alice.id,
            instanceId,
            agentType: 'x',
            content: 'Ready? [YES/NO]',
            requiresUserInput: true,
          },
        ).then((r) => r.messageId),
        Bun.sleep(1500).then(() => 'still waiting'),
      ])

    test.each([
      ['the first, which creates the instance (a transaction)', false],
      ['a later one (one statement)', true],
    ])(
      'an agent message, %s, is answered without waiting for the NOTIFY to the other processes',
      async (_, later) => {
        const instanceId = uuid()
        if (later) await post(instanceId, 'first')
        const { bus, heard } = stalledBus(false)
        const answered = await ask(bus, instanceId)
        expect(heard).toEqual(questionEvents(alice.id, instanceId, answered))
      },
    )

    test.each([
      ['idle', false],
      ['behind', true],
    ])('a NOTIFY that fails (bus %s) does not fail the committed message', async (_, behind) => {
      const instanceId = uuid()
      await post(instanceId, 'first')
      const failing: EventBus = {
        subscribe: (topic, fn) => t.bus.subscribe(topic, fn),
        publish: () => Promise.reject(Object.assign(new Error('connection lost'), { code: 'ECONNRESET' })),
        size: () => t.bus.size(),
        close: async () => {},
        behind: () => behind,
      }
      const result = await postAgentMessage(
        { ...t.core, bus: failing },
        { userId: alice.id, instanceId, agentType: 'x', content: 'still here', requiresUserInput: false },
      )
      expect(result.replayed).toBe(false)
      await Bun.sleep(10)
      const [row] = await t.database.query<{ content: string }>(
        'select content from messages where id = $1',
        [result.messageId],
      )
      expect(row?.content).toBe('still here')
    })

    test('an agent message waits for its NOTIFY while the bus is behind (a NOTIFY already in flight)', async () => {
      const instanceId = uuid()
      await post(instanceId, 'first')
      const { bus, heard } = stalledBus(true)
      expect(await ask(bus, instanceId)).toBe('still waiting')
      expect(heard.map((e) => e.type)).toEqual(['message.created', 'instance.updated'])
    })

    test('a typed answer is one statement: it answers the question and its events carry the answer', async () => {
      const instanceId = uuid()
      const asked = await post(instanceId, 'Deploy now? [YES/NO]', { requiresUserInput: true })
      const heard: BusEvent[] = []
      const unsubscribe = t.bus.subscribe({ instanceId }, (e) => heard.push(e))
      const before = t.database.queryCount()
      const reply = await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId,
        content: 'yes, go',
        markAsRead: false,
        channel: 'api',
      })
      expect(t.database.queryCount() - before).toBe(1)
      unsubscribe()
      expect(reply.answered).toEqual([asked.messageId])
      const [row] = await t.database.query<{ created_at: string }>(
        'select created_at::text from messages where id = $1',
        [reply.messageId],
      )
      const message = {
        id: reply.messageId,
        content: 'yes, go',
        sender: 'USER' as const,
        createdAt: row!.created_at,
        requiresUserInput: false,
      }
      const base = { userId: alice.id, instanceId }
      expect(heard).toEqual([
        {
          type: 'message.created',
          ...base,
          messageId: reply.messageId,
          sender: 'USER',
          question: false,
          message,
        },
        { type: 'instance.updated', ...base, status: 'ACTIVE' },
        {
          type: 'question.answered',
          ...base,
          questionId: asked.messageId,
          answerId: reply.messageId,
          answer: message,
        },
      ])
      // A second answer is late: kept as a message, and told who answered first.
      const late = await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId,
        questionId: asked.messageId,
        content: 'no, wait',
        markAsRead: false,
        channel: 'web',
      })
      expect(late.outcome).toMatchObject({ status: 'already', first: { answer: 'yes, go', via: 'api' } })
    })

    test('a button is one statement too: its option answers; a late or unknown one writes nothing', async () => {
      const instanceId = uuid()
      const asked = await post(instanceId, 'Deploy now? [YES/NO]', { requiresUserInput: true })
      const press = (option: number) =>
        answerQuestion(t.core, {
          actorUserId: alice.id,
          instanceId,
          questionId: asked.messageId,
          channel: 'web',
          answer: { option },
        })
      const count = async () =>
        (await t.database.query('select id from messages where instance_id = $1', [instanceId])).length
      expect(await press(5)).toMatchObject({ status: 'refused', code: 'INVALID', field: 'option' })
      expect(await press(2 ** 31)).toMatchObject({ status: 'refused', code: 'INVALID', field: 'option' })
      const before = t.database.queryCount()
      expect(await press(0)).toMatchObject({ status: 'answered', answered: [asked.messageId], answer: 'Yes' })
      expect(t.database.queryCount() - before).toBe(1)
      const messages = await count()
      expect(await press(1)).toMatchObject({ status: 'already', messageId: null, first: { answer: 'Yes' } })
      expect(await count()).toBe(messages)
    })

    test('a message written in a transaction comes after the newest message, not only after the cursor', async () => {
      // Another machine whose clock is an hour ahead wrote the newest message; the cursor is older.
      const session = await hookSession(t.core, alice.id, 'claude_code', {
        sessionId: uuid(),
        cwd: null,
        gitBranch: null,
        event: 'UserPromptSubmit',
        prompt: 'typed at the terminal',
      })
      const ahead = Bun.randomUUIDv7('hex', Date.now() + 3_600_000)
      await t.database.query(
        `insert into messages (id, instance_id, user_id, sender, content) values ($1, $2, $3, 'USER', 'from the future')`,
        [ahead, session.instanceId, alice.id],
      )
      expect((await recordPrompt(t.core, session, 'typed at the terminal')) > ahead).toBe(true)
    })

    test('every write of a USER message changes the instance row, which the statement relies on', async () => {
      const instanceId = uuid()
      await post(instanceId, 'first')
      const version = async () =>
        (
          await t.database.query<{ v: string }>('select xmin::text as v from agent_instances where id = $1', [
            instanceId,
          ])
        )[0]!.v
      const v0 = await version()
      await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId,
        content: 'a reply',
        markAsRead: false,
        channel: 'web',
      })
      const v1 = await version()
      expect(v1).not.toBe(v0)
      const session = await hookSession(t.core, alice.id, 'claude_code', {
        sessionId: instanceId,
        cwd: null,
        gitBranch: null,
        event: 'UserPromptSubmit',
        prompt: 'typed at the terminal',
      })
      await recordPrompt(t.core, session, 'typed at the terminal')
      const v2 = await version()
      expect(v2).not.toBe(v1)
      // A reply already written that answers a question flagged afterwards (PATCH request-input)
      // writes no message, but it answers the question: that changes the row too.
      const asked = (await post(instanceId, 'Deploy now?')).messageId
      const reply = await postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId,
        content: 'yes, before you ask',
        markAsRead: false,
        channel: 'web',
      })
      await t.database.query('update messages set requires_user_input = true where id = $1', [asked])
      const v3 = await version()
      const outcome = await answerQuestion(t.core, {
        actorUserId: alice.id,
        instanceId,
        questionId: asked,
        answer: { messageId: reply.messageId },
        channel: 'api',
      })
      expect(outcome).toMatchObject({ status: 'answered', answered: [asked] })
      expect(await version()).not.toBe(v3)
    })
  })
}

// Concurrency needs a server: PGlite has one connection.
describe.skipIf(!hasPostgres())('agent messages racing answers (postgres)', () => {
  const kind = 'postgres' as const
  let db: TestDb
  let t: TestApp
  let alice: Awaited<ReturnType<typeof makeUser>>
  beforeAll(async () => {
    db = await freshDatabase(kind)
    t = await testApp(kind, { db })
    alice = await makeUser(t.database.db, 'alice')
  }, 60_000)
  afterAll(async () => {
    await t.close()
    await db.drop()
  })
  /** Runs `listen` with the event bus of another process on the same database. */
  const inOtherProcess = async (listen: (bus: PostgresBus) => Promise<void>) => {
    const other = connectPostgres(db.url!)
    const bus = await PostgresBus.start(other.sql!)
    try {
      await listen(bus)
    } finally {
      await bus.close()
      await other.close()
    }
  }

  const askShipIt = (instanceId: string) =>
    postAgentMessage(t.core, {
      userId: alice.id,
      instanceId,
      agentType: 'x',
      content: 'Ship it?',
      requiresUserInput: true,
    })

  test('copies sent together are written at once, except one another statement holds, which is waited for alone', async () => {
    const instanceId = uuid()
    const question = await askShipIt(instanceId)
    const copies = await t.database.query<{ id: string; target: string }>(
      `insert into deliveries (user_id, message_id, instance_id, channel, target, kind)
       select $1, $2, $3, 'slack', t, 'question' from unnest(array['D1', 'D2', 'D3']) t
       returning id, target`,
      [alice.id, question.messageId, instanceId],
    )
    const stateOf = async () =>
      Object.fromEntries(
        (
          await t.database.query<{ target: string; state: string }>(
            'select target, state from deliveries where message_id = $1',
            [question.messageId],
          )
        ).map((r) => [r.target, r.state]),
      )
    const held = copies.find((c) => c.target === 'D2')!
    const blocker = postgres(db.url!, { max: 1, onnotice: () => {} })
    const conn = await blocker.reserve()
    try {
      await conn`begin`
      await conn`select 1 from deliveries where id = ${held.id} for update`
      const recording = recordSent(
        t.core.db,
        copies.map((c) => ({ id: c.id, kind: 'question', messageId: question.messageId }) as const),
      )
      // Waiting for D2 while holding D1 and D3 could deadlock with an answer locking them in
      // another order: they are written first, and D2 waited for alone.
      await until(async () => (await stateOf()).D1 === 'sent')
      expect(await stateOf()).toEqual({ D1: 'sent', D2: 'pending', D3: 'sent' })
      await conn`commit`
      expect(await recording).toBe(false)
      expect(await stateOf()).toEqual({ D1: 'sent', D2: 'sent', D3: 'sent' })
    } finally {
      conn.release()
      await blocker.end()
    }
  })

  test('a copy whose sending finishes while a one-statement answer waits for the lock still gets its lock job', async () => {
    const instanceId = uuid()
    const question = await askShipIt(instanceId)
    const [copy] = await t.database.query<{ id: string }>(
      `insert into deliveries (user_id, message_id, instance_id, channel, target, kind)
       values ($1, $2, $3, 'slack', 'D1', 'question') returning id`,
      [alice.id, question.messageId, instanceId],
    )
    // Another request holds the instance row: the answer's statement has its snapshot and waits.
    const blocker = postgres(db.url!, { max: 1, onnotice: () => {} })
    const held = await blocker.reserve()
    try {
      await held`begin`
      await held`select 1 from agent_instances where id = ${instanceId} for update`
      const answering = postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId,
        content: 'yes',
        markAsRead: false,
        channel: 'web',
      })
      await until(async () => {
        const [w] = await t.database.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        )
        return w!.n > 0
      })
      // Meanwhile the copy is sent; the question is not answered yet, so recordSent queues no lock.
      const sent = {
        id: copy!.id,
        kind: 'question',
        messageId: question.messageId,
        externalRef: { ts: '1' },
      } as const
      expect(await recordSent(t.core.db, [sent])).toBe(false)
      await held`commit`
      expect((await answering).answered).toEqual([question.messageId])
    } finally {
      held.release()
      await blocker.end()
    }
    const locks = await t.database.query(
      `select id from deliveries where message_id = $1 and kind = 'lock'`,
      [question.messageId],
    )
    expect(locks).toHaveLength(1)
  })

  test('every reply reaches the agent exactly once while messages and replies race', async () => {
    const ROUNDS = 150
    const instances = [uuid(), uuid(), uuid(), uuid()]
    const received = new Map<string, string[]>()
    const sent = new Map<string, string[]>()
    await Promise.all(
      instances.map(async (instanceId) => {
        const got: string[] = []
        const replies: string[] = []
        received.set(instanceId, got)
        sent.set(instanceId, replies)
        await postAgentMessage(t.core, {
          userId: alice.id,
          instanceId,
          agentType: 'x',
          content: 'start',
          requiresUserInput: false,
        })
        const agent = async () => {
          for (let i = 0; i < ROUNDS; i++) {
            const r = await postAgentMessage(t.core, {
              userId: alice.id,
              instanceId,
              content: `step ${i}`,
              requiresUserInput: i % 3 === 0,
            })
            got.push(...r.queued.map((m) => m.content))
          }
        }
        const person = async () => {
          for (let i = 0; i < ROUNDS; i++) {
            replies.push(`reply ${i}`)
            await postUserMessage(t.core, {
              actorUserId: alice.id,
              instanceId,
              content: `reply ${i}`,
              markAsRead: false,
              channel: 'web',
            })
          }
        }
        await Promise.all([agent(), person()])
        const last = await postAgentMessage(t.core, {
          userId: alice.id,
          instanceId,
          content: 'done',
          requiresUserInput: false,
        })
        got.push(...last.queued.map((m) => m.content))
      }),
    )
    for (const instanceId of instances) {
      expect(received.get(instanceId)).toEqual(sent.get(instanceId)!)
      // A reply answers every question before it: none is left open behind a reply.
      const open = await t.database.query<{ n: number }>(
        `select count(*)::int as n from messages q
         where q.instance_id = $1 and q.requires_user_input and q.answered_at is null
           and exists (select 1 from messages u where u.instance_id = q.instance_id
             and u.sender = 'USER' and u.id > q.id)`,
        [instanceId],
      )
      expect(open[0]!.n).toBe(0)
    }
  }, 120_000)

  test("an answer's NOTIFY carries the reply to another process, without it when too large", async () => {
    await inOtherProcess(async (bus) => {
      // Small: sent by the statement. 5000: the statement's payload (reply and answer) would not
      // fit, so the bus sends it. 100,000: no event can carry it; the receiver reads the database.
      for (const content of ['yes', 'y'.repeat(3000), 'z'.repeat(5000), 'x'.repeat(100_000)]) {
        const instanceId = uuid()
        const asked = await postAgentMessage(t.core, {
          userId: alice.id,
          instanceId,
          agentType: 'x',
          content: 'Go? [YES/NO]',
          requiresUserInput: true,
        })
        const heard = new Promise<BusEvent>((resolve) =>
          bus.subscribe({ instanceId }, (e) => e.type === 'question.answered' && resolve(e)),
        )
        const reply = await postUserMessage(t.core, {
          actorUserId: alice.id,
          instanceId,
          content,
          markAsRead: false,
          channel: 'api',
        })
        const e = await Promise.race([heard, Bun.sleep(5000).then(() => null)])
        expect(e).toMatchObject({ questionId: asked.messageId, answerId: reply.messageId })
        const answer = (e as Extract<BusEvent, { type: 'question.answered' }>).answer
        if (content.length > 7000) expect(answer).toBeUndefined()
        else expect(answer).toMatchObject({ id: reply.messageId, content, sender: 'USER' })
      }
    })
  })

  test('a chat button naming only its question: one statement, whose NOTIFY names the instance', async () => {
    await inOtherProcess(async (bus) => {
      const instanceId = uuid()
      const asked = await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId,
        agentType: 'x',
        content: 'Go? [YES/NO]',
        requiresUserInput: true,
      })
      const heard: BusEvent[] = []
      const all = new Promise<void>((resolve) =>
        bus.subscribe({ instanceId }, (e) => {
          // The question's own events may arrive here too: only the answer's are looked at.
          const ofAnswer =
            (e.type === 'message.created' && e.sender === 'USER') ||
            (e.type === 'instance.updated' && e.status === 'ACTIVE') ||
            e.type === 'question.answered'
          if (ofAnswer) heard.push(e)
          if (e.type === 'question.answered') resolve()
        }),
      )
      const before = t.database.queryCount()
      const pressed = await answerQuestion(t.core, {
        actorUserId: alice.id,
        questionId: asked.messageId,
        answer: { option: 0 },
        channel: 'telegram',
      })
      expect(t.database.queryCount() - before).toBe(1)
      expect(pressed).toMatchObject({ status: 'answered', instanceId, answer: 'Yes' })
      await Promise.race([all, Bun.sleep(5000)])
      expect(heard.map((e) => [e.type, 'instanceId' in e && e.instanceId])).toEqual([
        ['message.created', instanceId],
        ['instance.updated', instanceId],
        ['question.answered', instanceId],
      ])
      // A question id that names no question (or not an agent's) is refused, and nothing is written.
      for (const questionId of [uuid(), (pressed as { messageId: string }).messageId]) {
        const refused = await answerQuestion(t.core, {
          actorUserId: alice.id,
          questionId,
          answer: { option: 0 },
          channel: 'telegram',
        })
        expect(refused).toMatchObject({ status: 'refused', code: 'NOT_FOUND' })
      }
    })
  })

  test('its NOTIFY reaches another process, after the commit, with the status it set', async () => {
    await inOtherProcess(async (bus) => {
      const instanceId = uuid()
      await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId,
        agentType: 'x',
        content: 'start',
        requiresUserInput: false,
      })
      const heard: BusEvent[] = []
      const both = new Promise<void>((resolve) =>
        bus.subscribe({ instanceId }, (e) => {
          // The first message's events (sent by the bus, not the statement) may arrive late.
          if (e.type === 'message.created' && !e.question) return
          if (e.type === 'instance.updated' && e.status !== 'AWAITING_INPUT') return
          heard.push(e)
          if (heard.length === 2) resolve()
        }),
      )
      const result = await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId,
        content: 'Ready? [YES/NO]',
        requiresUserInput: true,
      })
      await Promise.race([both, Bun.sleep(5000)])
      expect(heard).toEqual(questionEvents(alice.id, instanceId, result.messageId))
    })
  })
})
