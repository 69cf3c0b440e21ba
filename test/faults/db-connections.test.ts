// Faults, on Postgres: Parley's database connections are killed under load (pg_terminate_backend,
// as a failover or an admin would; the shared server itself is not restarted). Requests caught in
// it answer 503 with Retry-After and an error body, never a 500 or a stack; agents that retry with
// their Idempotency-Key store each message exactly once; Parley recovers without a restart,
// including the bus that wakes long-polls. Before that: the same Idempotency-Key sent 50 times at
// once stores one message.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { postUserMessage } from '../../src/core/messages.ts'
import { connectPostgres, type Database } from '../../src/db/client.ts'
import {
  call,
  freshDatabase,
  hasPostgres,
  makeUser,
  type TestApp,
  type TestDb,
  testApp,
  uuid,
} from '../helpers.ts'

describe.skipIf(!hasPostgres())('faults: Postgres connections killed under load (postgres)', () => {
  let db: TestDb
  let t: TestApp
  let admin: Database
  beforeAll(async () => {
    db = await freshDatabase('postgres')
    t = await testApp('postgres', { db })
    admin = connectPostgres(db.url!, { max: 1 })
  }, 60_000)
  afterAll(async () => {
    await admin.close()
    await t.close()
    await db.drop()
  }, 30_000)

  /** Ends every connection Parley has to its database (not the test's own admin connection). */
  const killParleyConnections = () =>
    admin.query<{ n: number }>(
      `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid()`,
    )

  test('the same Idempotency-Key sent 50 times at once stores one message', async () => {
    const user = await makeUser(t.database.db, 'idem')
    const instanceId = uuid()
    const body = {
      agent_instance_id: instanceId,
      agent_type: 'x',
      content: 'Once? [YES/NO]',
      requires_user_input: true,
    }
    const headers = { 'idempotency-key': `fifty-${uuid()}` }
    const all = await Promise.all(
      Array.from({ length: 50 }, () =>
        call(t.app, 'POST', '/api/v1/messages/agent', { key: user.key, headers, body }),
      ),
    )
    expect(all.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(new Set(all.map((r) => r.json.message_id)).size).toBe(1)
    const [row] = await admin.query<{ n: number }>(
      'select count(*)::int as n from messages where instance_id = $1',
      [instanceId],
    )
    expect(row!.n).toBe(1)
  }, 30_000)

  test('killed connections give 503 + Retry-After (never 500); retries with the key store each step once; Parley recovers', async () => {
    const user = await makeUser(t.database.db, 'faults')
    const agents = Array.from({ length: 30 }, () => uuid())
    const statuses = new Map<number, number>()
    const unavailable: { body: string; retryAfter: string | null }[] = []
    let stop = false
    let sent = 0
    // An agent gives up on a request after a while and sends it again with the same key (a request
    // caught on a connection killed at the wrong moment can hang inside the driver; see RELIABILITY.md).
    const TIMED_OUT = 0
    const attempt = (instanceId: string, key: string, body: Record<string, unknown>) =>
      Promise.race([
        call(t.app, 'POST', '/api/v1/messages/agent', {
          key: user.key,
          headers: { 'idempotency-key': key },
          body: { agent_instance_id: instanceId, agent_type: 'faults', ...body },
        }),
        Bun.sleep(5000).then(() => ({ status: TIMED_OUT, text: '', headers: new Headers(), json: null })),
      ])
    const untilStored = async (instanceId: string, key: string, body: Record<string, unknown>) => {
      for (let n = 0; n < 50; n++) {
        const r = await attempt(instanceId, key, body)
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
        if (r.status === 200) return r
        if (r.status === 503) unavailable.push({ body: r.text, retryAfter: r.headers.get('retry-after') })
        else if (r.status !== TIMED_OUT) throw new Error(`unexpected ${r.status}: ${r.text}`)
        await Bun.sleep(20)
      }
      throw new Error(`${key} never stored`)
    }
    const step = (instanceId: string, n: number) =>
      untilStored(instanceId, `${instanceId}-${n}`, { content: `step ${n}` })
    const load = agents.map(async (id) => {
      let n = 0
      while (!stop) {
        await step(id, n++)
        sent++
      }
      return n
    })
    for (let kill = 0; kill < 4; kill++) {
      const before = sent
      while (sent < before + 40) await Bun.sleep(5)
      await killParleyConnections()
    }
    stop = true
    const steps = await Promise.all(load)

    expect(statuses.get(500)).toBeUndefined()
    expect([...statuses.keys()].every((s) => s === 200 || s === 503 || s === TIMED_OUT)).toBe(true)
    for (const u of unavailable) {
      expect(JSON.parse(u.body).error.code).toBe('UNAVAILABLE')
      expect(u.body).not.toContain('    at ')
      expect(Number(u.retryAfter)).toBeGreaterThan(0)
    }
    // Exactly once: every step an agent saw stored is there once, and nothing else is.
    const rows = await admin.query<{ instance_id: string; n: number; distinct_content: number }>(
      `select instance_id, count(*)::int as n, count(distinct content)::int as distinct_content
       from messages where user_id = $1 group by instance_id`,
      [user.id],
    )
    const byAgent = new Map(rows.map((r) => [r.instance_id, r]))
    agents.forEach((id, i) => {
      expect(byAgent.get(id)).toEqual({ instance_id: id, n: steps[i]!, distinct_content: steps[i]! })
    })

    // Recovered without a restart: requests succeed, and the bus still wakes a parked long-poll. The
    // first use of a connection that was killed while idle may still answer 503 once: retried.
    const instanceId = agents[0]!
    const ok = await untilStored(instanceId, `q-${uuid()}`, {
      content: 'Still there? [YES/NO]',
      requires_user_input: true,
    })
    const poll = async () => {
      for (;;) {
        const r = await call(
          t.app,
          'GET',
          `/api/v1/messages/pending?agent_instance_id=${instanceId}&last_read_message_id=${ok.json.message_id}&wait=20`,
          { key: user.key },
        )
        if (r.status !== 503) return r
      }
    }
    const waiting = poll()
    await Bun.sleep(300)
    const answer = () =>
      postUserMessage(t.core, {
        actorUserId: user.id,
        instanceId,
        content: 'YES',
        channel: 'web',
        markAsRead: false,
      })
    for (let n = 0; ; n++) {
      const done = await answer().then(
        () => true,
        (err) => (n < 5 ? false : Promise.reject(err)),
      )
      if (done) break
    }
    const woke = await waiting
    expect(woke.status).toBe(200)
    expect(woke.json.messages.map((m: { content: string }) => m.content)).toEqual(['YES'])
  }, 60_000)
})
