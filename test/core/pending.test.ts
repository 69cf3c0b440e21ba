// A waiter woken by an answer is answered from the event that woke it: a long-poll issues one
// statement (the cursor's compare-and-set), a blocking ask none, a held hook one (who answered), and a message whose event comes
// late is not skipped. Statements are counted on the waiter's own connection (drizzle's logger),
// so the answering side's statements do not count.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { answerQuestion } from '../../src/core/answers.ts'
import type { Core } from '../../src/core/context.ts'
import { awaitHookAnswer } from '../../src/core/hooks/questions.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { consumeAnswer, getPending, readPending, waitForAnswer } from '../../src/core/pending.ts'
import { queryRows } from '../../src/core/sql-rows.ts'
import { connectPostgres, type Database, type Db, wrapPglite } from '../../src/db/client.ts'
import { MemoryBus } from '../../src/events/bus.ts'
import {
  dbKinds,
  freshDatabase,
  makeUser,
  type TestApp,
  type TestDb,
  testApp,
  until,
  uuid,
} from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`woken waiters (${kind})`, () => {
    let db: TestDb
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    /** The waiter's connection: its own statement count. */
    let waiterDb: Database
    let waiter: Core
    beforeAll(async () => {
      db = await freshDatabase(kind)
      t = await testApp(kind, { db })
      alice = await makeUser(t.database.db, 'alice')
      waiterDb = db.url ? connectPostgres(db.url) : wrapPglite(db.database.pglite!)
      waiter = { db: waiterDb.db, bus: t.bus }
    }, 60_000)
    afterAll(async () => {
      if (db.url) await waiterDb.close()
      await t.close()
      await db.drop()
    })

    const ask = async (instanceId: string) =>
      (
        await postAgentMessage(t.core, {
          userId: alice.id,
          instanceId,
          agentType: 'x',
          content: 'Ship? [YES/NO]',
          requiresUserInput: true,
        })
      ).messageId
    const reply = (core: Core, instanceId: string, text: string) =>
      answerQuestion(core, { actorUserId: alice.id, instanceId, answer: { text }, channel: 'api' })
    /** Starts a waiter and resolves once its first look (`statements` of them) is surely done. */
    const parked = async <T>(statements: number, start: () => Promise<T>) => {
      const before = waiterDb.queryCount()
      const waiting = start()
      await until(() => waiterDb.queryCount() >= before + statements)
      await Bun.sleep(50)
      return { waiting, since: waiterDb.queryCount() }
    }

    test('a woken long-poll returns the reply with one statement, as a read would return it', async () => {
      const id = uuid()
      const questionId = await ask(id)
      const { waiting, since } = await parked(1, () =>
        getPending(waiter, { userId: alice.id, instanceId: id, lastRead: questionId, waitMs: 10_000 }),
      )
      await reply(t.core, id, 'Yes, ship it')
      const result = await waiting
      expect(waiterDb.queryCount() - since).toBe(1)
      expect(result.status).toBe('ok')
      // The same message, field for field, as the database gives it (the wire's created_at included).
      expect((await readPending(t.core, alice.id, id, null)).messages).toEqual([])
      const [row] = await t.database.query<{ last_read_message_id: string }>(
        'select last_read_message_id from agent_instances where id = $1',
        [id],
      )
      expect(row?.last_read_message_id).toBe(result.messages[0]?.id)
      const fromDb = await t.database.db.query.messages.findFirst({
        where: (m, { eq }) => eq(m.id, result.messages[0]!.id),
        columns: { id: true, content: true, sender: true, createdAt: true, requiresUserInput: true },
      })
      expect(result.messages).toEqual([fromDb!])
    })

    test('an event without its message (too large for NOTIFY): one statement reads it and moves the cursor', async () => {
      const id = uuid()
      const questionId = await ask(id)
      const { waiting, since } = await parked(1, () =>
        getPending(waiter, { userId: alice.id, instanceId: id, lastRead: questionId, waitMs: 10_000 }),
      )
      // Written where nobody listens, then announced as another machine announces a large message.
      const text = 'Yes, ship it. '.repeat(1000)
      const answered = await reply({ db: t.core.db, bus: new MemoryBus() }, id, text)
      if (answered.status !== 'answered' || !answered.messageId)
        throw new Error(`not answered: ${answered.status}`)
      await t.bus.publish({
        type: 'message.created',
        userId: alice.id,
        instanceId: id,
        messageId: answered.messageId,
        sender: 'USER',
        question: false,
      })
      const result = await waiting
      expect(waiterDb.queryCount() - since).toBe(1)
      expect(result.status).toBe('ok')
      expect(result.messages.map((m) => m.content)).toEqual([text])
      expect((await readPending(t.core, alice.id, id, answered.messageId)).messages).toEqual([])
      // The cursor moved past it: a read from the question's id is stale now.
      expect((await readPending(t.core, alice.id, id, questionId)).status).toBe('stale')
    })

    // Two connections are needed for the read to wait on the other move: PGlite has one.
    test.skipIf(kind !== 'postgres')(
      'a read racing another move of the cursor is stale: the same messages never go to two readers',
      async () => {
        const id = uuid()
        const questionId = await ask(id)
        const answered = await reply(t.core, id, 'only once')
        if (answered.status !== 'answered' || !answered.messageId) throw new Error('not answered')
        // Another reader has read the reply and is moving the cursor past it, not yet committed.
        let commit!: () => void
        const held = new Promise<void>((resolve) => {
          commit = resolve
        })
        let moved = false
        const other = t.database.db.transaction(async (tx) => {
          await tx.execute(
            sql`update agent_instances set last_read_message_id = ${answered.messageId} where id = ${id}`,
          )
          moved = true
          await held
        })
        await until(() => moved)
        const reading = readPending(waiter, alice.id, id, questionId)
        await until(
          async () =>
            (
              await t.database.query(
                `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
              )
            ).length === 1,
        )
        commit()
        await other
        expect(await reading).toEqual({ messages: [], status: 'stale' })
        const [row] = await t.database.query<{ last_read_message_id: string }>(
          'select last_read_message_id from agent_instances where id = $1',
          [id],
        )
        expect(row?.last_read_message_id).toBe(answered.messageId)
      },
    )

    test('a reply whose event has not come yet is not skipped: the long-poll reads it', async () => {
      const id = uuid()
      const questionId = await ask(id)
      const { waiting } = await parked(1, () =>
        getPending(waiter, { userId: alice.id, instanceId: id, lastRead: questionId, waitMs: 10_000 }),
      )
      // The first reply is announced on a bus nobody here listens to: as if its machine were slow.
      await reply({ db: t.core.db, bus: new MemoryBus() }, id, 'first')
      await reply(t.core, id, 'second')
      const result = await waiting
      expect(result.status).toBe('ok')
      expect(result.messages.map((m) => m.content)).toEqual(['first', 'second'])
    })

    test('a woken blocking ask reads nothing: the answer comes with its event', async () => {
      const id = uuid()
      const questionId = await ask(id)
      const { waiting, since } = await parked(1, () =>
        waitForAnswer(waiter, {
          userId: alice.id,
          instanceId: id,
          questionId,
          deadline: Date.now() + 10_000,
        }),
      )
      await reply(t.core, id, 'No')
      const found = await waiting
      expect(waiterDb.queryCount() - since).toBe(0)
      expect(found?.answer.content).toBe('No')
      expect(found?.questionId).toBe(questionId)
    })

    test('a woken hook request reads only who answered and how', async () => {
      const id = uuid()
      const questionId = await ask(id)
      const session = { userId: alice.id, instanceId: id, agent: 'claude_code' } as const
      const hold = { deadline: Date.now() + 10_000, signal: new AbortController().signal }
      const { waiting, since } = await parked(1, () => awaitHookAnswer(waiter, session, questionId, hold))
      await reply(t.core, id, 'Allow')
      const answer = await waiting
      expect(waiterDb.queryCount() - since).toBe(1)
      expect(answer).toMatchObject({ content: 'Allow', by: 'alice', via: 'api', pressed: false })
    })

    /**
     * Runs `move` in a transaction and returns how that transaction will commit. A reader who moves
     * the cursor is answered without waiting for a disk flush: on a busy database that flush was the
     * slowest step of a woken long-poll (see withoutFlushWait in src/core/pending.ts).
     */
    const commitOf = (move: (core: Core) => Promise<unknown>) =>
      t.database.db.transaction(async (tx) => {
        await move({ db: tx as unknown as Db, bus: t.bus })
        const [row] = await queryRows<{ s: string }>(
          tx,
          sql`select current_setting('synchronous_commit') as s`,
        )
        return row?.s
      })

    // PGlite has one connection: the reply could not be written while the transaction holds it.
    test.skipIf(kind !== 'postgres')('a woken cursor move does not wait for its flush to disk', async () => {
      const id = uuid()
      const first = await ask(id)
      const woken = commitOf(async (core) => {
        const waiting = getPending(core, {
          userId: alice.id,
          instanceId: id,
          lastRead: first,
          waitMs: 10_000,
        })
        await Bun.sleep(100)
        await reply(t.core, id, 'one')
        expect((await waiting).messages.map((m) => m.content)).toEqual(['one'])
      })
      expect(await woken).toBe('off')
    })

    test('a cursor move does not wait for its flush to disk: read, or after a blocking ask', async () => {
      const id = uuid()
      const second = await ask(id)
      await reply(t.core, id, 'two')
      const read = commitOf(async (core) => {
        expect((await readPending(core, alice.id, id, second)).messages.map((m) => m.content)).toEqual([
          'two',
        ])
      })
      expect(await read).toBe('off')
      const third = await ask(id)
      const outcome = await reply(t.core, id, 'three')
      const answerId = 'messageId' in outcome ? outcome.messageId : null
      expect(await commitOf((core) => consumeAnswer(core, id, third, answerId!))).toBe('off')
      const [row] = await t.database.query<{ last_read_message_id: string }>(
        'select last_read_message_id from agent_instances where id = $1',
        [id],
      )
      expect(row?.last_read_message_id).toBe(answerId!)
      // A statement that moves no cursor leaves the commit as it was.
      expect(await commitOf((core) => readPending(core, alice.id, id, null))).toBe('on')
    })
  })
}
