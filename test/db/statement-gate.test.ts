// The gate in front of the Postgres pool (src/db/statement-gate.ts): past its cap, ordinary
// statements wait in order while an answer's statements go ahead of them (up to twice the cap).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { answerQuestion } from '../../src/core/answers.ts'
import type { Core } from '../../src/core/context.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { getPending, readPending } from '../../src/core/pending.ts'
import { connectPostgres, type Database, STATEMENTS_PER_CONNECTION } from '../../src/db/client.ts'
import { StatementGate } from '../../src/db/statement-gate.ts'
import { MemoryBus } from '../../src/events/bus.ts'
import { freshDatabase, hasPostgres, makeUser, type TestDb, uuid } from '../helpers.ts'

/** A statement that settles when told to, and says whether it was sent. */
function pending() {
  let settle!: (ok: boolean) => void
  const state = { sent: false }
  const send = () => {
    state.sent = true
    return new Promise<string>((resolve, reject) => {
      settle = (ok) => (ok ? resolve('done') : reject(new Error('failed')))
    })
  }
  return { state, send, settle: (ok = true) => settle(ok) }
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('StatementGate', () => {
  test('below the cap statements go at once; past it they wait, in order, for a slot', async () => {
    const gate = new StatementGate(2)
    const [a, b, c, d] = [pending(), pending(), pending(), pending()]
    const runs = Promise.allSettled([a, b, c, d].map((s) => gate.run(false, s.send)))
    await tick()
    expect([a, b, c, d].map((s) => s.state.sent)).toEqual([true, true, false, false])
    expect(gate.load()).toEqual({ inFlight: 2, waiting: 2 })
    b.settle()
    await tick()
    expect([c.state.sent, d.state.sent]).toEqual([true, false])
    a.settle(false)
    await tick()
    expect(d.state.sent).toBe(true)
    c.settle()
    d.settle()
    expect(await runs).toMatchObject([
      { status: 'rejected' },
      { status: 'fulfilled', value: 'done' },
      { status: 'fulfilled', value: 'done' },
      { status: 'fulfilled', value: 'done' },
    ])
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0 })
  })

  test('an urgent statement goes past the cap at once, and the waiters go only once below it', async () => {
    const gate = new StatementGate(1)
    const [a, waiter, urgent] = [pending(), pending(), pending()]
    const runs = [gate.run(false, a.send), gate.run(false, waiter.send), gate.run(true, urgent.send)]
    await tick()
    expect([a.state.sent, waiter.state.sent, urgent.state.sent]).toEqual([true, false, true])
    expect(gate.load()).toEqual({ inFlight: 2, waiting: 1 })
    a.settle()
    await tick()
    // Still one in flight (the urgent one): that is the cap.
    expect(waiter.state.sent).toBe(false)
    urgent.settle()
    await tick()
    expect(waiter.state.sent).toBe(true)
    waiter.settle()
    await Promise.all(runs)
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0 })
  })
})

describe('StatementGate, urgent statements and stuck ones', () => {
  test('urgent statements go up to twice the cap, and a freed slot goes to an urgent waiter first', async () => {
    const gate = new StatementGate(1)
    const [a, b, ordinary, c, d] = [pending(), pending(), pending(), pending(), pending()]
    const runs = Promise.all([
      gate.run(false, a.send),
      gate.run(true, b.send),
      gate.run(false, ordinary.send),
      gate.run(true, c.send),
      gate.run(true, d.send),
    ])
    await tick()
    expect([a, b, ordinary, c, d].map((s) => s.state.sent)).toEqual([true, true, false, false, false])
    expect(gate.load()).toEqual({ inFlight: 2, waiting: 3 })
    a.settle()
    await tick()
    expect([ordinary.state.sent, c.state.sent, d.state.sent]).toEqual([false, true, false])
    b.settle()
    c.settle()
    await tick()
    expect([ordinary.state.sent, d.state.sent]).toEqual([false, true])
    d.settle()
    await tick()
    expect(ordinary.state.sent).toBe(true)
    ordinary.settle()
    await runs
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0 })
  })

  test('a statement that never settles gives up its slot after the time limit', async () => {
    const gate = new StatementGate(1, 30)
    const [stuck, next] = [pending(), pending()]
    void gate.run(false, stuck.send)
    const done = gate.run(false, next.send)
    await tick()
    expect(next.state.sent).toBe(false)
    await Bun.sleep(60)
    expect(next.state.sent).toBe(true)
    next.settle()
    expect(await done).toBe('done')
    // The stuck one settling late does not free a slot twice.
    stuck.settle()
    await tick()
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0 })
  })

  test('when every slot expires at once, the waiters still left are timed too', async () => {
    const gate = new StatementGate(2, 20)
    const [s1, s2, w1, w2, w3] = [pending(), pending(), pending(), pending(), pending()]
    // Nothing ever settles: only the time limit moves the queue.
    for (const s of [s1, s2, w1, w2, w3]) void gate.run(false, s.send)
    await tick()
    expect([w1, w2, w3].map((s) => s.state.sent)).toEqual([false, false, false])
    await Bun.sleep(30)
    expect([w1.state.sent, w2.state.sent]).toEqual([true, true])
    await Bun.sleep(40)
    expect(w3.state.sent).toBe(true)
  })
})

describe.skipIf(!hasPostgres())('the answer path through a busy pool (postgres)', () => {
  let testDb: TestDb
  let database: Database
  let core: Core
  let userId: string
  beforeAll(async () => {
    testDb = await freshDatabase('postgres')
    // One connection: the gate's cap is STATEMENTS_PER_CONNECTION.
    database = connectPostgres(testDb.url!, { max: 1 })
    core = { db: database.db, answerDb: database.answerDb, bus: new MemoryBus() }
    userId = (await makeUser(database.db, 'gate')).id
  }, 30_000)
  afterAll(async () => {
    await database.close()
    await testDb.drop()
  }, 30_000)

  /** Fills the gate with slow statements, sent by the time it returns; `done` is when they are. */
  async function fillGate(seconds = 0.15): Promise<{ done: Promise<unknown> }> {
    const done = Promise.all(
      Array.from({ length: STATEMENTS_PER_CONNECTION }, () =>
        database.db.execute(sql`select pg_sleep(${seconds})`),
      ),
    )
    // A drizzle query starts when awaited, and reaches the gate some microtasks later: all of them
    // have run before a timer fires.
    await tick()
    return { done }
  }

  /** The order in which the named calls finished. */
  async function finishOrder(calls: Record<string, () => Promise<unknown>>): Promise<string[]> {
    const done: string[] = []
    await Promise.all(Object.entries(calls).map(([name, f]) => f().then(() => done.push(name))))
    return done
  }

  const post = (instanceId: string, content: string, requiresUserInput = false) =>
    postAgentMessage(core, { userId, instanceId, agentType: 'x', content, requiresUserInput })

  test('an answer overtakes an agent message queued at the gate', async () => {
    const instanceId = uuid()
    const q = await post(instanceId, 'Ship? [YES/NO]', true)
    const busy = await fillGate()
    const order = await finishOrder({
      step: () => post(instanceId, 'a step'),
      answer: () =>
        answerQuestion(core, {
          actorUserId: userId,
          instanceId,
          questionId: q.messageId,
          answer: { text: 'Yes' },
          channel: 'web',
        }),
    })
    await busy.done
    expect(order).toEqual(['answer', 'step'])
  })

  test("an agent's read of its answers overtakes a statement queued at the gate", async () => {
    const instanceId = uuid()
    const step = await post(instanceId, 'working')
    await postUserMessage(core, {
      actorUserId: userId,
      instanceId,
      content: 'stop there',
      markAsRead: false,
      channel: 'web',
    })
    const busy = await fillGate()
    let read: string[] = []
    const order = await finishOrder({
      queued: () => database.db.execute(sql`select 1`),
      read: async () => {
        read = (await readPending(core, userId, instanceId, step.messageId)).messages.map((m) => m.content)
      },
    })
    await busy.done
    expect(read).toEqual(['stop there'])
    expect(order).toEqual(['read', 'queued'])
  })

  test("a woken long-poll's cursor move overtakes a statement queued at the gate", async () => {
    const instanceId = uuid()
    const step = await post(instanceId, 'working')
    const polling = getPending(core, { userId, instanceId, lastRead: step.messageId, waitMs: 5000 })
    // Parked: its first look has read the database and found nothing.
    await Bun.sleep(50)
    // The answer comes through another pool (another machine, same bus): only the woken
    // long-poll's own statements meet this busy one.
    const other = connectPostgres(testDb.url!, { max: 1 })
    const elsewhere: Core = { db: other.db, answerDb: other.answerDb, bus: core.bus }
    // Connected and its answer statement prepared first, so that a busy machine's slower first
    // round trips do not outlast the statements filling the gate.
    await postUserMessage(elsewhere, {
      actorUserId: userId,
      instanceId: uuid(),
      content: 'warming up',
      markAsRead: false,
      channel: 'web',
    }).catch(() => {})
    const busy = await fillGate(0.3)
    let got: string[] = []
    const order = await finishOrder({
      // Its own run time sets it apart from the poll's return, which answers from the same read.
      queued: () => database.db.execute(sql`select pg_sleep(0.05)`),
      delivered: async () => {
        await postUserMessage(elsewhere, {
          actorUserId: userId,
          instanceId,
          content: 'go on',
          markAsRead: false,
          channel: 'web',
        })
        got = (await polling).messages.map((m) => m.content)
      },
    })
    await busy.done
    await other.close()
    expect(got).toEqual(['go on'])
    expect(order).toEqual(['delivered', 'queued'])
  })
})
