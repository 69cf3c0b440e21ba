// GET /metrics (prom-client): process metrics, HTTP requests by route pattern, what waits (agents,
// open questions, the outbox backlog), websocket connections; the optional bearer token; and the
// request id every response carries.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { configureLog, resetLog } from '../../src/log.ts'
import { countWebSocket } from '../../src/metrics.ts'
import {
  call,
  dbKinds,
  freshDatabase,
  makeUser,
  type TestApp,
  type TestDb,
  testApp,
  until,
  uuid,
} from '../helpers.ts'

/** The value of one series in a scrape (`name{labels} value`), or undefined. */
function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return undefined
}

for (const kind of dbKinds()) {
  describe(`/metrics (${kind})`, () => {
    let db: TestDb
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      db = await freshDatabase(kind)
      t = await testApp(kind, { db })
      alice = await makeUser(db.database.db, 'alice')
    }, 60_000)
    afterAll(async () => {
      await t.close()
      await db.drop()
    })
    const scrape = async () => {
      const res = await call(t.app, 'GET', '/metrics')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toContain('text/plain')
      return res.text
    }

    test('process metrics, and HTTP requests counted by route pattern, never by raw path', async () => {
      const id = uuid()
      await call(t.app, 'POST', '/api/v1/messages/agent', {
        key: alice.key,
        body: { agent_instance_id: id, agent_type: 'x', content: 'hello' },
      })
      const got = await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })
      expect(got.status).toBe(200)
      await call(t.app, 'GET', `/no/such/${uuid()}`)
      const pattern = { method: 'GET', route: '/api/v1/agent-instances/:id', status: '200' }
      // The request is counted once its response is out (after app.handle returns).
      await until(async () => series(await scrape(), 'parley_http_requests_total', pattern) !== undefined)
      const text = await scrape()
      expect(series(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
      expect(series(text, 'process_resident_memory_bytes')).toBeGreaterThan(0)
      expect(series(text, 'parley_http_requests_total', pattern)).toBeGreaterThanOrEqual(1)
      expect(
        series(text, 'parley_http_request_duration_seconds_count', { route: '/api/v1/agent-instances/:id' }),
      ).toBeGreaterThanOrEqual(1)
      expect(
        series(text, 'parley_http_requests_total', { route: 'unmatched', status: '404' }),
      ).toBeGreaterThanOrEqual(1)
      expect(text).not.toContain(id)
    })

    test('agents waiting, open questions and the outbox backlog by channel', async () => {
      const id = uuid()
      const q = await call(t.app, 'POST', '/api/v1/messages/agent', {
        key: alice.key,
        body: { agent_instance_id: id, agent_type: 'x', content: 'ok?', requires_user_input: true },
      })
      expect(series(await scrape(), 'parley_open_questions')).toBe(1)
      const before = series(await scrape(), 'parley_agents_waiting')
      expect(before).toBe(0)
      const polled = call(
        t.app,
        'GET',
        `/api/v1/messages/pending?agent_instance_id=${id}&last_read_message_id=${q.json.message_id}&wait=30`,
        { key: alice.key },
      )
      await until(
        async () => series(await scrape(), 'parley_agents_waiting') === 1,
        5000,
        'one agent waiting',
      )
      await call(t.app, 'POST', '/api/v1/messages/user', {
        key: alice.key,
        body: { agent_instance_id: id, content: 'yes', mark_as_read: false },
      })
      expect((await polled).json.messages).toHaveLength(1)
      const after = await scrape()
      expect(series(after, 'parley_agents_waiting')).toBe(0)
      expect(series(after, 'parley_open_questions')).toBe(0)

      // A row the outbox has not sent yet (its channel has no adapter here, so it stays due).
      await db.database.query(
        `insert into deliveries (message_id, channel, target, user_id, kind)
         values ($1, 'carrier-pigeon', 'loft-1', $2, 'question')`,
        [q.json.message_id, alice.id],
      )
      expect(series(await scrape(), 'parley_outbox_backlog', { channel: 'carrier-pigeon' })).toBe(1)
    })

    test('websocket connections: a gauge the relay moves with countWebSocket', async () => {
      const base = series(await scrape(), 'parley_websocket_connections', { role: 'viewer' }) ?? 0
      const close = countWebSocket('viewer')
      expect(series(await scrape(), 'parley_websocket_connections', { role: 'viewer' })).toBe(base + 1)
      close()
      close() // closing twice counts once
      expect(series(await scrape(), 'parley_websocket_connections', { role: 'viewer' })).toBe(base)
    })

    test('with PARLEY_METRICS_TOKEN a scrape needs it as a Bearer token', async () => {
      const token = 'metrics-token-0123456789'
      const guarded = await testApp(kind, { db, env: { PARLEY_METRICS_TOKEN: token } })
      try {
        const none = await call(guarded.app, 'GET', '/metrics')
        expect(none.status).toBe(401)
        expect(none.json.error.code).toBe('UNAUTHORIZED')
        expect((await call(guarded.app, 'GET', '/metrics', { key: 'wrong-token' })).status).toBe(401)
        const ok = await call(guarded.app, 'GET', '/metrics', { key: token })
        expect(ok.status).toBe(200)
        expect(ok.text).toContain('parley_open_questions')
      } finally {
        await guarded.close()
      }
    })
  })
}

describe('request ids', () => {
  let t: TestApp
  const lines: string[] = []
  beforeAll(async () => {
    t = await testApp('pglite')
    configureLog({ level: 'debug', destination: { write: (l: string) => lines.push(l) } })
  }, 60_000)
  afterAll(async () => {
    resetLog()
    await t.close()
  })
  const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>)

  test("the caller's X-Request-Id is returned and logged; a missing or unsafe one is replaced", async () => {
    const given = await call(t.app, 'GET', '/healthz', { headers: { 'x-request-id': 'trace-42.a:b' } })
    expect(given.headers.get('x-request-id')).toBe('trace-42.a:b')
    const fresh = await call(t.app, 'GET', '/healthz')
    const freshId = fresh.headers.get('x-request-id')
    expect(freshId).toMatch(/^[0-9a-f-]{36}$/)
    const unsafe = await call(t.app, 'GET', '/healthz', { headers: { 'x-request-id': 'a"b c<script>' } })
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    const failed = await call(t.app, 'GET', '/nowhere', { headers: { 'x-request-id': 'lost-1' } })
    expect(failed.status).toBe(404)
    expect(failed.headers.get('x-request-id')).toBe('lost-1')
    await until(() => logged().filter((l) => l.msg === 'request').length >= 4, 5000, 'request lines')
    const byId = (id: string | null) => logged().find((l) => l.reqId === id && l.msg === 'request')
    expect(byId('trace-42.a:b')).toMatchObject({ route: '/healthz', status: 200, method: 'GET' })
    expect(byId(freshId)).toMatchObject({ route: '/healthz', status: 200 })
    expect(byId('lost-1')).toMatchObject({ route: 'unmatched', status: 404 })
  })

  test('health checks and scrapes are logged at debug, other requests at info', async () => {
    await call(t.app, 'GET', '/healthz', { headers: { 'x-request-id': 'routine-1' } })
    await call(t.app, 'GET', '/login', { headers: { 'x-request-id': 'page-1' } })
    await until(() => logged().some((l) => l.reqId === 'page-1'), 5000, 'the page line')
    await until(() => logged().some((l) => l.reqId === 'routine-1'), 5000, 'the health line')
    expect(logged().find((l) => l.reqId === 'routine-1')?.level).toBe(20)
    expect(logged().find((l) => l.reqId === 'page-1')?.level).toBe(30)
  })

  test('a line logged deep inside a request carries its id', async () => {
    // An event listener that throws is logged by the bus, from within the request that published.
    const off = t.bus.subscribe('all', (e) => {
      if (e.type === 'instance.updated') throw new Error('listener broke')
    })
    try {
      const alice = await makeUser(t.database.db, 'deep')
      await call(t.app, 'POST', '/api/v1/messages/agent', {
        key: alice.key,
        body: { agent_type: 'x', content: 'hi' },
        headers: { 'x-request-id': 'deep-7' },
      })
      const line = logged().find((l) => l.msg === 'event listener failed')
      expect(line?.reqId).toBe('deep-7')
    } finally {
      off()
    }
  })
})
