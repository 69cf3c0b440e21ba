// The outbox against a scripted in-test adapter: questions reach linked chats once, failures are
// retried with backoff, retry_after is honoured, permanent errors stop and deactivate the link,
// answers lock copies, pacing holds, pending rows survive a restart, and idle means no queries.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { enqueueProgress } from '../../src/core/deliveries.ts'
import { endSession } from '../../src/core/instances.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { recordProgressSent } from '../../src/core/outbox-store.ts'
import { agentInstances, channelLinks, users } from '../../src/db/schema.ts'
import type { ChannelAdapter, DeliveryJob, SendResult } from '../../src/notify/channel.ts'
import { loadJobs } from '../../src/notify/jobs.ts'
import { Outbox, type OutboxOptions } from '../../src/notify/outbox.ts'
import { dbKinds, makeUser, type TestApp, testApp, until, uuid } from '../helpers.ts'

type Sent = { job: DeliveryJob; at: number }

/** Records every send; answers with scripted results (then ok) per target. */
class ScriptedAdapter implements ChannelAdapter {
  readonly sent: Sent[] = []
  readonly script = new Map<string, SendResult[]>()
  constructor(
    readonly channel = 'telegram',
    readonly pacing = { perTargetMs: 0, perSecond: 1000 },
  ) {}
  async send(job: DeliveryJob): Promise<SendResult> {
    this.sent.push({ job, at: performance.now() })
    const next = this.script.get(job.target)?.shift()
    // Like a chat API: a new copy gets a new ref, an edit keeps the copy's ref.
    return next ?? { ok: true, externalRef: job.externalRef ?? { chat: job.target, n: this.sent.length } }
  }
  of(kind: string) {
    return this.sent.filter((s) => s.job.kind === kind)
  }
}

const fast: Partial<OutboxOptions> = {
  baseUrl: 'http://parley.test',
  backoff: { baseMs: 20, maxMs: 200, maxAttempts: 4 },
  progressIntervalMs: 150,
  log: () => {},
}

for (const kind of dbKinds()) {
  describe(`outbox (${kind})`, () => {
    let t: TestApp
    beforeAll(async () => {
      t = await testApp(kind)
    }, 60_000)
    afterAll(() => t.close())

    async function linkedUser(chats: string[], prefs: Record<string, unknown> = {}) {
      const u = await makeUser(t.database.db, 'outbox')
      await t.database.db.update(users).set({ notificationPrefs: prefs }).where(eq(users.id, u.id))
      for (const chatId of chats) {
        await t.database.db
          .insert(channelLinks)
          .values({ userId: u.id, channel: 'telegram', target: chatId, chatId })
      }
      return u
    }
    const ask = (userId: string, instanceId: string, content = 'Deploy? [YES/NO]') =>
      postAgentMessage(t.core, { userId, instanceId, agentType: 'claude', content, requiresUserInput: true })
    const states = (messageId: string) =>
      t.database.query<{ kind: string; state: string; attempts: number; target: string; last_error: string }>(
        'select kind, state, attempts, target, last_error from deliveries where message_id = $1 order by kind, target',
        [messageId],
      )
    const running: Outbox[] = []
    const run = async (adapter: ChannelAdapter, opts: Partial<OutboxOptions> = {}) => {
      const outbox = new Outbox(t.core, [adapter], { ...fast, ...opts } as OutboxOptions)
      running.push(outbox)
      await outbox.start()
      return outbox
    }
    // A failed test must not leave an outbox running that steals the next test's rows.
    afterEach(async () => {
      await Promise.all(running.splice(0).map((o) => o.stop()))
    })

    test('a question reaches every linked chat once, with its options and instance link', async () => {
      const adapter = new ScriptedAdapter()
      const outbox = await run(adapter)
      const u = await linkedUser(['c1', 'c2'])
      const id = uuid()
      const q = await ask(u.id, id)
      await until(() => adapter.of('question').length === 2)
      const job = adapter.sent[0]!.job
      expect(job.message).toMatchObject({
        id: q.messageId,
        content: 'Deploy? [YES/NO]',
        options: ['Yes', 'No'],
      })
      expect(job.instance).toMatchObject({
        id,
        agentType: 'claude',
        url: `http://parley.test/instances/${id}`,
      })
      expect(job.answer).toBeNull()
      expect(adapter.sent.map((s) => s.job.target).sort()).toEqual(['c1', 'c2'])
      await until(async () => (await states(q.messageId)).every((r) => r.state === 'sent'))
      await outbox.stop() // waits for sends in flight: the count is final
      expect(adapter.sent).toHaveLength(2)
    })

    test("a question's copies due together are read in one statement and written back in a few", async () => {
      // No overall pace, as for web push: every copy is due at once.
      const adapter = new ScriptedAdapter('telegram', { perTargetMs: 0, perSecond: 0 })
      const chats = Array.from({ length: 20 }, (_, i) => `many-${i}`)
      const u = await linkedUser(chats)
      const q = await ask(u.id, uuid())
      const before = t.database.queryCount()
      await run(adapter)
      await until(async () => (await states(q.messageId)).every((r) => r.state === 'sent'))
      expect(adapter.of('question')).toHaveLength(20)
      // Claiming is a transaction of two, then one read for the 20 jobs; the 20 results go out in
      // a few writes of two statements each, where they were 20 reads and 40 writes.
      expect(t.database.queryCount() - before).toBeLessThan(20)
    })

    test('answering locks every sent copy with who answered and how; unsent copies are never sent', async () => {
      const adapter = new ScriptedAdapter()
      const outbox = await run(adapter)
      const u = await linkedUser(['l1'])
      const id = uuid()
      const q = await ask(u.id, id)
      await until(() => adapter.of('question').length === 1)
      await until(async () => (await states(q.messageId))[0]?.state === 'sent')
      await outbox.stop()
      // A second chat linked while the outbox is down: its copy is still pending at answer time.
      await t.database.db
        .insert(channelLinks)
        .values({ userId: u.id, channel: 'telegram', target: 'l2', chatId: 'l2' })
      const q2 = await ask(u.id, id, 'Second?')
      await postUserMessage(t.core, {
        actorUserId: u.id,
        instanceId: id,
        content: 'Yes',
        markAsRead: false,
        channel: 'slack',
        questionId: q.messageId,
      })
      await postUserMessage(t.core, {
        actorUserId: u.id,
        instanceId: id,
        content: 'no',
        markAsRead: false,
        channel: 'web',
      })
      const again = await run(adapter)
      await until(() => adapter.of('lock').length === 1)
      const lock = adapter.of('lock')[0]!.job
      expect(lock.message.id).toBe(q.messageId)
      expect(lock.externalRef).toEqual({ chat: 'l1', n: 1 })
      expect(lock.answer).toMatchObject({ content: 'Yes', via: 'slack', by: 'outbox' })
      // q2 was answered before any copy went out: none is ever sent, none needs a lock edit.
      await again.stop() // waits for sends in flight: what was sent is final
      expect(adapter.sent.filter((s) => s.job.message.id === q2.messageId)).toEqual([])
      expect((await states(q2.messageId)).map((r) => `${r.kind}/${r.target}/${r.state}`)).toEqual([
        'question/l1/locked',
        'question/l2/locked',
      ])
    })

    test('network errors and 5xx are retried with backoff until they succeed', async () => {
      const adapter = new ScriptedAdapter()
      adapter.script.set('r1', [
        { ok: false, retry: true, error: 'HTTP 500' },
        { ok: false, retry: true, error: 'ECONNRESET' },
      ])
      const outbox = await run(adapter)
      const u = await linkedUser(['r1'])
      const q = await ask(u.id, uuid())
      await until(async () => (await states(q.messageId))[0]?.state === 'sent')
      const times = adapter.sent.map((s) => s.at)
      expect(times).toHaveLength(3)
      // 20 ms then 40 ms (±20 % jitter): each wait longer than the one before it.
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(15)
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(30)
      expect((await states(q.messageId))[0]!.attempts).toBe(2)
      await outbox.stop()
    })

    test('a job that keeps failing gives up after maxAttempts and is marked failed', async () => {
      const adapter = new ScriptedAdapter()
      const fail: SendResult = { ok: false, retry: true, error: 'HTTP 502' }
      adapter.script.set('f1', [fail, fail, fail, fail, fail, fail])
      const outbox = await run(adapter)
      const u = await linkedUser(['f1'])
      const q = await ask(u.id, uuid())
      await until(async () => (await states(q.messageId))[0]?.state === 'failed')
      expect(adapter.sent).toHaveLength(4)
      expect((await states(q.messageId))[0]).toMatchObject({ attempts: 4, last_error: 'HTTP 502' })
      await outbox.stop()
    })

    test('429 retry_after is waited out before the next attempt', async () => {
      const adapter = new ScriptedAdapter()
      adapter.script.set('t1', [{ ok: false, retry: true, error: 'Too Many Requests', retryAfterMs: 300 }])
      const outbox = await run(adapter)
      const u = await linkedUser(['t1'])
      const q = await ask(u.id, uuid())
      await until(async () => (await states(q.messageId))[0]?.state === 'sent')
      expect(adapter.sent[1]!.at - adapter.sent[0]!.at).toBeGreaterThanOrEqual(290)
      await outbox.stop()
    })

    test('a send whose result cannot be written at first is written again, not sent again', async () => {
      let failWrites = 0
      const db = new Proxy(t.core.db, {
        get(target, prop) {
          const value = Reflect.get(target, prop)
          if (prop === 'execute' && failWrites > 0) {
            return () => {
              failWrites--
              return Promise.reject(new Error('terminating connection due to administrator command'))
            }
          }
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      const adapter = new ScriptedAdapter()
      const send = adapter.send.bind(adapter)
      adapter.send = async (job) => {
        const result = await send(job)
        failWrites = 2 // the database goes away right after the chat accepted the copy
        return result
      }
      // The write is retried for a third of the lease: a lease long enough for a loaded machine.
      const outbox = new Outbox({ ...t.core, db }, [adapter], { ...fast, leaseMs: 3000 } as OutboxOptions)
      running.push(outbox)
      await outbox.start()
      const u = await linkedUser(['w1'])
      const q = await ask(u.id, uuid())
      // Without the retry, the result is never written: every send's write fails (see adapter.send),
      // the row is sent again each time its lease runs out, and never becomes 'sent'.
      await until(async () => (await states(q.messageId))[0]?.state === 'sent')
      expect(adapter.of('question')).toHaveLength(1)
      expect(failWrites).toBe(0)
      await outbox.stop()
    })

    test('rows whose read fails are due again at once, not when their lease ends', async () => {
      let failReads = 1
      const isJobRead = (query: unknown) =>
        (query as { toQuery?(c: object): { sql: string } }).toQuery?.({}).sql.includes('m.answered_via') ??
        false
      const db = new Proxy(t.core.db, {
        get(target, prop) {
          const value = Reflect.get(target, prop)
          if (prop !== 'execute') return typeof value === 'function' ? value.bind(target) : value
          return (query: unknown) => {
            if (failReads > 0 && isJobRead(query)) {
              failReads--
              return Promise.reject(new Error('terminating connection due to administrator command'))
            }
            return target.execute(query as never)
          }
        },
      })
      const adapter = new ScriptedAdapter()
      // A lease far longer than the wait below: only the release makes the rows due again in time.
      const outbox = new Outbox({ ...t.core, db }, [adapter], { ...fast, leaseMs: 120_000 } as OutboxOptions)
      running.push(outbox)
      await outbox.start()
      const u = await linkedUser(['r1', 'r2'])
      const q = await ask(u.id, uuid())
      await until(async () => (await states(q.messageId)).every((r) => r.state === 'sent'), 2000)
      expect(failReads).toBe(0)
      expect(adapter.of('question')).toHaveLength(2)
    })

    test('a permanent error stops retries, deactivates the link and drops its other pending rows', async () => {
      const adapter = new ScriptedAdapter()
      adapter.script.set('p1', [
        { ok: false, retry: false, error: 'Forbidden: bot was blocked by the user', deactivateLink: true },
      ])
      const outbox = await run(adapter)
      const u = await linkedUser(['p1'])
      const id = uuid()
      const q = await ask(u.id, id)
      await until(async () => (await states(q.messageId))[0]?.state === 'failed')
      const [link] = await t.database.query<{ active: boolean; last_error: string }>(
        'select active, last_error from channel_links where user_id = $1',
        [u.id],
      )
      expect(link).toEqual({ active: false, last_error: 'Forbidden: bot was blocked by the user' })
      const another = await ask(u.id, id, 'Another?')
      expect(await states(another.messageId)).toEqual([]) // inactive links get nothing new
      await outbox.stop()
      expect(adapter.sent).toHaveLength(1)
    })

    test('pacing: one send per perTargetMs to a chat, at most perSecond overall', async () => {
      const adapter = new ScriptedAdapter('telegram', { perTargetMs: 60, perSecond: 100 })
      const u = await linkedUser(['s1', 's2', 's3'])
      const id = uuid()
      for (let i = 0; i < 4; i++) await ask(u.id, id, `q${i}?`)
      const outbox = await run(adapter, { windowMs: 100 })
      await until(() => adapter.sent.length === 12)
      // Measured where the API would see them. A single gap also holds the event loop's jitter
      // on the earlier send, so the check is on spans: n sends paced d apart span (n-1)·d, and
      // only the first send's delay can shorten that (by a timer slice or a pause, not by d).
      const span = (times: number[]) => Math.max(...times) - Math.min(...times)
      expect(span(adapter.sent.map((s) => s.at))).toBeGreaterThanOrEqual(11 * 10 - 8)
      for (const chat of ['s1', 's2', 's3']) {
        const times = adapter.sent.filter((s) => s.job.target === chat).map((s) => s.at)
        expect(times).toHaveLength(4)
        expect(span(times)).toBeGreaterThanOrEqual(3 * 60 - 8)
      }
      await outbox.stop()
    })

    test('waiting out a chat’s pacing costs a few queries, not a busy loop', async () => {
      const adapter = new ScriptedAdapter('telegram', { perTargetMs: 600, perSecond: 1000 })
      const u = await linkedUser(['w1'])
      const id = uuid()
      await ask(u.id, id, 'one?')
      await ask(u.id, id, 'two?')
      await ask(u.id, id, 'three?')
      await run(adapter, { windowMs: 100 })
      await until(() => adapter.sent.length === 1)
      const before = t.database.queryCount()
      await until(() => adapter.sent.length === 3, 5000)
      // Two more sends, each with its claim, load and result: a handful of statements each.
      expect(t.database.queryCount() - before).toBeLessThan(30)
      expect(adapter.sent[2]!.at - adapter.sent[0]!.at).toBeGreaterThanOrEqual(2 * 600 * 0.9)
    })

    test('rows queued while no outbox runs are sent after start; idle costs no queries', async () => {
      const u = await linkedUser(['z1'])
      const q = await ask(u.id, uuid())
      expect((await states(q.messageId))[0]!.state).toBe('pending')
      const adapter = new ScriptedAdapter()
      const outbox = await run(adapter)
      await until(async () => (await states(q.messageId))[0]?.state === 'sent')
      await Bun.sleep(50)
      const before = t.database.queryCount()
      await Bun.sleep(400)
      expect(t.database.queryCount()).toBe(before)
      await outbox.stop()
    })

    test('two outboxes on one database never send the same row twice', async () => {
      const u = await linkedUser(['d1', 'd2', 'd3', 'd4', 'd5'])
      const id = uuid()
      for (let i = 0; i < 10; i++) await ask(u.id, id, `dup ${i}?`)
      const a = new ScriptedAdapter()
      const b = new ScriptedAdapter()
      const [oa, ob] = await Promise.all([run(a), run(b)])
      const ids = await t.database.query<{ id: string }>(
        'select distinct message_id as id from deliveries d join messages m on m.id = d.message_id where m.instance_id = $1',
        [id],
      )
      const allSent = async () => {
        for (const { id: messageId } of ids) {
          if (!(await states(messageId)).every((r) => r.state === 'sent')) return false
        }
        return true
      }
      await until(allSent)
      // Nothing is left to claim, and stop waits for sends in flight: the counts are final.
      await Promise.all([oa.stop(), ob.stop()])
      const keys = [...a.sent, ...b.sent].map((s) => `${s.job.message.id}/${s.job.target}`)
      expect(keys).toHaveLength(50)
      expect(new Set(keys).size).toBe(50)
    })

    // Two connections are needed for the result to wait on the session's end: PGlite has one.
    test.skipIf(kind !== 'postgres')(
      'a session that ends while its progress is being sent gets its note: the result does not mark it sent',
      async () => {
        const u = await linkedUser(['g9'], { progress: { telegram: true } })
        const id = uuid()
        await postAgentMessage(t.core, {
          userId: u.id,
          instanceId: id,
          agentType: 'x',
          content: 'step',
          requiresUserInput: false,
        })
        const progressRow = async () =>
          (
            await t.database.query<{ id: string; state: string }>(
              `select id, state from deliveries where instance_id = $1 and kind = 'progress'`,
              [id],
            )
          )[0]!
        // The send has read its job; the session ends in a transaction that commits only once the
        // send's result is waiting for the row.
        const row = await progressRow()
        const job = (await loadJobs(t.core.db, [row.id], 'http://parley.test')).get(row.id)!
        let commit!: () => void
        const held = new Promise<void>((resolve) => {
          commit = resolve
        })
        let written = false
        const ending = t.core.db.transaction(async (tx) => {
          await tx.update(agentInstances).set({ status: 'COMPLETED' }).where(eq(agentInstances.id, id))
          await enqueueProgress(tx, { ownerId: u.id, instanceId: id, messageId: job.message.id })
          written = true
          await held
        })
        await until(() => written)
        const recorded = recordProgressSent(t.core.db, {
          id: job.id,
          messageId: job.message.id,
          status: job.instance.status,
          payload: job.payload,
          intervalMs: 0,
        })
        const waitingForRow = async () =>
          (
            await t.database.query(
              `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
            )
          ).length === 1
        await until(waitingForRow)
        commit()
        await Promise.all([ending, recorded])
        expect((await progressRow()).state).toBe('pending')
        // No outbox ran here: the next test's would send it.
        await t.database.query('delete from deliveries where instance_id = $1', [id])
      },
      15_000,
    )

    test('progress goes out only when asked for, edited in place at most once per interval', async () => {
      const adapter = new ScriptedAdapter()
      const outbox = await run(adapter)
      const quiet = await linkedUser(['g0'])
      const u = await linkedUser(['g1'], { progress: { telegram: true } })
      const id = uuid()
      const step = (userId: string, instanceId: string, content: string) =>
        postAgentMessage(t.core, { userId, instanceId, agentType: 'x', content, requiresUserInput: false })
      await step(quiet.id, uuid(), 'not wanted')
      // Quiet hours hold progress back (all day here); questions are never held back.
      const night = await linkedUser(['g2'], {
        progress: { telegram: true },
        quiet: { start: '00:00', end: '23:59:59' },
      })
      await step(night.id, uuid(), 'not now')
      const nightQ = await ask(night.id, uuid(), 'Even at night?')
      await step(u.id, id, 'step 1')
      await until(() => adapter.of('progress').length === 1)
      for (let i = 2; i <= 6; i++) await step(u.id, id, `step ${i}`)
      await endSession(t.core, u.id, id)
      await until(() => adapter.of('progress').some((s) => s.job.instance.status === 'COMPLETED'))
      const progress = adapter.of('progress')
      expect(progress.every((s) => s.job.target === 'g1')).toBe(true)
      expect(adapter.of('question').map((s) => s.job.message.id)).toContain(nightQ.messageId)
      expect(progress.length).toBeLessThanOrEqual(3)
      for (let i = 1; i < progress.length; i++) {
        expect(progress[i]!.at - progress[i - 1]!.at).toBeGreaterThanOrEqual(140)
        // Later sends edit the copy the first one made.
        expect(progress[i]!.job.externalRef).toEqual({
          chat: 'g1',
          n: adapter.sent.indexOf(progress[0]!) + 1,
        })
      }
      expect(progress.at(-1)!.job.message.content).toBe('step 6')
      // Recorded as sent: the row is as the send read it (its payload too), so it is not sent again.
      await until(
        async () =>
          (
            await t.database.query<{ state: string }>(
              `select state from deliveries where instance_id = $1 and kind = 'progress'`,
              [id],
            )
          )[0]?.state === 'sent',
      )
      await outbox.stop()
    }, 20_000)
  })
}
