// The cross-process bus coalesces events into few NOTIFYs: a burst must still arrive whole, in
// order, on another process's bus, even when it is larger than one NOTIFY payload can hold. An
// answer too large for NOTIFY travels without its text, and the agent it wakes reads it instead.
// A NOTIFY the driver never answers holds the next ones only until the bus's time limit.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type postgres from 'postgres'
import { answerQuestion } from '../../src/core/answers.ts'
import type { Core } from '../../src/core/context.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { getPending } from '../../src/core/pending.ts'
import { connectPostgres, type Database } from '../../src/db/client.ts'
import type { BusEvent } from '../../src/events/bus.ts'
import { PostgresBus } from '../../src/events/postgres.ts'
import { freshDatabase, hasPostgres, makeUser, type TestDb, until, uuid } from '../helpers.ts'

describe.skipIf(!hasPostgres())('Postgres event bus', () => {
  let testDb: TestDb
  let other: Database
  let a: PostgresBus
  let b: PostgresBus
  beforeAll(async () => {
    testDb = await freshDatabase('postgres')
    other = connectPostgres(testDb.url!)
    a = await PostgresBus.start(testDb.database.sql!)
    b = await PostgresBus.start(other.sql!)
  })
  afterAll(async () => {
    await a.close()
    await b.close()
    await other.close()
    await testDb.drop()
  })

  test('a burst of 500 events (several NOTIFY payloads) reaches the other process whole and in order', async () => {
    const received: string[] = []
    const all = new Promise<void>((resolve) => {
      b.subscribe({ userId: 'u1' }, (e) => {
        if (e.type === 'instance.updated') received.push(e.instanceId)
        if (received.length === 500) resolve()
      })
    })
    const local: string[] = []
    a.subscribe({ userId: 'u1' }, (e) => {
      if (e.type === 'instance.updated') local.push(e.instanceId)
    })
    const sent = Array.from({ length: 500 }, () => crypto.randomUUID())
    const events: BusEvent[] = sent.map((instanceId) => ({
      type: 'instance.updated',
      userId: 'u1',
      instanceId,
      status: 'ACTIVE',
    }))
    await Promise.all(events.map((e) => a.publish(e)))
    // Local listeners hear every event at once, before any NOTIFY round trip.
    expect(local).toEqual(sent)
    await Promise.race([all, Bun.sleep(5000)])
    expect(received).toEqual(sent)
  })

  test('events published one after another are all delivered, and our own are not heard twice', async () => {
    const heardByA: string[] = []
    const heardByB: string[] = []
    const unsubA = a.subscribe(
      { userId: 'u2' },
      (e) => e.type === 'instance.updated' && heardByA.push(e.status),
    )
    const unsubB = b.subscribe(
      { userId: 'u2' },
      (e) => e.type === 'instance.updated' && heardByB.push(e.status),
    )
    for (const status of ['ACTIVE', 'AWAITING_INPUT', 'COMPLETED']) {
      await a.publish({ type: 'instance.updated', userId: 'u2', instanceId: 'i', status })
    }
    for (let i = 0; i < 50 && heardByB.length < 3; i++) await Bun.sleep(20)
    await Bun.sleep(100)
    expect(heardByB).toEqual(['ACTIVE', 'AWAITING_INPUT', 'COMPLETED'])
    expect(heardByA).toEqual(['ACTIVE', 'AWAITING_INPUT', 'COMPLETED'])
    unsubA()
    unsubB()
  })

  test.each([
    ['100,000 characters', 'x'.repeat(100_000), false],
    ['3,000 three-byte characters (9,000 bytes)', '€'.repeat(3000), false],
    ['a short answer', 'Yes', true],
  ])(
    'a long-poll on the other process is woken by %s, carried in the event only when it fits',
    async (_, text, carried) => {
      const here: Core = { db: testDb.database.db, bus: a }
      const there: Core = { db: other.db, bus: b }
      const alice = await makeUser(testDb.database.db, 'alice')
      const id = uuid()
      const { messageId } = await postAgentMessage(here, {
        userId: alice.id,
        instanceId: id,
        agentType: 'x',
        content: 'Ship?',
        requiresUserInput: true,
      })
      const heard: BusEvent[] = []
      const unsubscribe = b.subscribe({ instanceId: id }, (e) => heard.push(e))
      const looked = other.queryCount() + 1
      const waiting = getPending(there, {
        userId: alice.id,
        instanceId: id,
        lastRead: messageId,
        waitMs: 10_000,
      })
      await until(() => other.queryCount() >= looked)
      await Bun.sleep(50)
      await answerQuestion(here, { actorUserId: alice.id, instanceId: id, answer: { text }, channel: 'api' })
      const result = await waiting
      await until(() => heard.some(isReply))
      unsubscribe()
      expect(result.status).toBe('ok')
      expect(result.messages.map((m) => m.content)).toEqual([text])
      const created = heard.find(isReply)
      expect(created?.type === 'message.created' && created.message?.content).toBe(carried ? text : undefined)
    },
  )
})

const isReply = (e: BusEvent) => e.type === 'message.created' && e.sender === 'USER'

describe('Postgres event bus, when a NOTIFY is slow or never answered', () => {
  /**
   * The driver's side of the bus: its statements are answered, late, or never (like a query
   * caught on a connection killed at the wrong moment); `sent` has the instances of the events of
   * the statements answered, `cancelled` counts the statements cancelled.
   */
  const driver = () => {
    const d = {
      next: 'answer' as 'answer' | 'late' | 'never',
      sent: [] as string[],
      cancelled: 0,
      sql: {
        listen: async () => ({ unlisten: async () => {} }),
        unsafe: (_text: string, [, payloads]: [string, string]) => {
          const how = d.next
          d.next = 'answer'
          const send = () => {
            for (const p of JSON.parse(payloads))
              d.sent.push(...JSON.parse(p).e.map((e: BusEvent & { instanceId: string }) => e.instanceId))
          }
          const answered =
            how === 'never'
              ? new Promise(() => {})
              : how === 'late'
                ? Bun.sleep(50).then(send)
                : Promise.resolve(send())
          return Object.assign(answered, { cancel: () => void d.cancelled++ })
        },
      } as unknown as postgres.Sql,
    }
    return d
  }
  const event = (instanceId: string): BusEvent => ({
    type: 'instance.updated',
    userId: 'u',
    instanceId,
    status: 'ACTIVE',
  })
  const settled = (p: Promise<unknown>) =>
    Promise.race([
      p.then(
        () => 'done',
        (err) => err.code,
      ),
      Bun.sleep(2000).then(() => 'still waiting'),
    ])

  test('an unanswered NOTIFY fails after the time limit as retryable, and the next events go out', async () => {
    const d = driver()
    const bus = await PostgresBus.start(d.sql, { notifyTimeoutMs: 100 })
    d.next = 'never'
    expect(bus.behind()).toBe(false)
    const first = settled(bus.publish(event('first')))
    await Bun.sleep(10)
    // A writer publishing now would wait behind the statement in flight (publishAfterCommit).
    expect(bus.behind()).toBe(true)
    const next = settled(bus.publish(event('next')))
    expect(await first).toBe('ETIMEDOUT')
    expect(await next).toBe('done')
    expect(d.sent).toEqual(['next'])
    // Cancelled, so that it cannot commit late and overtake what followed it.
    expect(d.cancelled).toBe(1)
    expect(bus.behind()).toBe(false)
    await bus.close()
  })

  test('closing waits for the NOTIFY in flight, and for an unanswered one only until the time limit', async () => {
    const d = driver()
    const bus = await PostgresBus.start(d.sql, { notifyTimeoutMs: 100 })
    d.next = 'late'
    void bus.publish(event('just before stopping'))
    await Bun.sleep(10)
    await bus.close()
    expect(d.sent).toEqual(['just before stopping'])

    const stuck = await PostgresBus.start(d.sql, { notifyTimeoutMs: 100 })
    d.next = 'never'
    void stuck.publish(event('caught')).catch(() => {})
    await Bun.sleep(10)
    void stuck.publish(event('behind it')).catch(() => {})
    expect(await settled(stuck.close())).toBe('done')
    expect(d.sent).toEqual(['just before stopping', 'behind it'])
  })
})
