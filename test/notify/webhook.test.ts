// Webhooks (n8n resume): called once per answered question with Omnara's body, retried on 5xx,
// and never sent to private, loopback or link-local addresses unless PARLEY_WEBHOOK_ALLOW says so.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { Outbox } from '../../src/notify/outbox.ts'
import { WebhookPolicy } from '../../src/notify/ssrf.ts'
import { WebhookAdapter } from '../../src/notify/webhook.ts'
import { dbKinds, makeUser, type TestApp, testApp, until, uuid } from '../helpers.ts'
import { webGet, webLogin } from '../web/helpers.ts'

describe('webhook address policy', () => {
  const policy = new WebhookPolicy()
  test.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.9',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::',
    '::1',
    'fe80::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '224.0.0.1',
  ])('refuses %s', (address) => {
    expect(policy.permits('example.com', address)).toBe(false)
  })
  test.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows %s',
    (address) => {
      expect(policy.permits('example.com', address)).toBe(true)
    },
  )
  test('PARLEY_WEBHOOK_ALLOW opens a host or a CIDR, and only that', () => {
    const allow = new WebhookPolicy(['n8n.internal', '10.0.0.0/8', 'fd00::/8'])
    expect(allow.permits('n8n.internal', '192.168.5.5')).toBe(true)
    expect(allow.permits('other.internal', '10.20.30.40')).toBe(true)
    expect(allow.permits('other.internal', 'fd00::5')).toBe(true)
    expect(allow.permits('other.internal', '192.168.5.5')).toBe(false)
    expect(allow.permits('other.internal', '127.0.0.1')).toBe(false)
  })
  test('a name is resolved and refused when it points inside', async () => {
    const r = await policy.resolve(new URL('http://localhost:9/hook'))
    expect(r).toMatchObject({ ok: false, retry: false })
    expect(await policy.resolve(new URL('file:///etc/passwd'))).toMatchObject({ ok: false, retry: false })
  })
})

type Hit = { headers: Headers; body: Record<string, unknown>; at: number }

for (const kind of dbKinds()) {
  describe(`webhook delivery (${kind})`, () => {
    let t: TestApp
    let server: ReturnType<typeof Bun.serve>
    const hits: Hit[] = []
    const statuses: number[] = []
    let hang = 0
    beforeAll(async () => {
      t = await testApp(kind)
      // Each test runs an outbox of its own with its own allow list: the app's would race it.
      await t.parley.outbox.stop()
      server = Bun.serve({
        hostname: '127.0.0.1',
        port: 0,
        fetch: async (req) => {
          if (hang > 0) {
            // Times out: holds the call until the client gives up, and so never takes it in.
            hang--
            await new Promise((resolve) => req.signal.addEventListener('abort', resolve))
            return new Response('late', { status: 200 })
          }
          hits.push({
            headers: req.headers,
            body: (await req.json()) as Record<string, unknown>,
            at: performance.now(),
          })
          return new Response('{}', { status: statuses.shift() ?? 200 })
        },
      })
    }, 60_000)
    afterAll(async () => {
      server.stop(true)
      await t.close()
    })
    let outbox: Outbox | null = null
    afterEach(async () => {
      await outbox?.stop()
      hits.length = 0
      statuses.length = 0
    })
    const start = async (allow: string[], timeoutMs?: number) => {
      outbox = new Outbox(t.core, [new WebhookAdapter(allow, timeoutMs)], {
        baseUrl: 'http://parley.test',
        backoff: { baseMs: 20, maxMs: 100, maxAttempts: 5 },
        log: () => {},
      })
      await outbox.start()
    }
    async function askAndAnswer(hookUrl: string) {
      const u = await makeUser(t.database.db, 'hook')
      const instanceId = uuid()
      const q = await postAgentMessage(t.core, {
        userId: u.id,
        instanceId,
        agentType: 'n8n',
        content: 'Approve the invoice?',
        requiresUserInput: true,
        metadata: { webhook_url: hookUrl },
      })
      const answer = (content: string) =>
        postUserMessage(t.core, { actorUserId: u.id, instanceId, content, markAsRead: true, channel: 'web' })
      const a = await answer('approved')
      return { u, instanceId, q, a, answer }
    }
    const row = async (messageId: string) =>
      (
        await t.database.query<{ state: string; attempts: number; last_error: string | null }>(
          `select state, attempts, last_error from deliveries where message_id = $1 and kind = 'webhook'`,
          [messageId],
        )
      )[0]

    test('a target that times out, then answers 429 with Retry-After, then 500, gets the answer exactly once', async () => {
      // Only the held call may time out: a bound of 200 ms was also reached by a prompt one on a
      // loaded 2-core runner (four attempts, not three); 1 s is not.
      await start(['127.0.0.1'], 1000)
      hang = 1
      statuses.push(429, 500)
      const { q } = await askAndAnswer(`http://127.0.0.1:${server.port}/resume/flaky`)
      await until(async () => (await row(q.messageId))?.state === 'sent')
      expect(await row(q.messageId)).toEqual({ state: 'sent', attempts: 3, last_error: null })
      // Three attempts reached it (429, 500, 200) after the one that timed out; one was taken in.
      expect(hits).toHaveLength(3)
      expect(new Set(hits.map((h) => h.headers.get('idempotency-key'))).size).toBe(1)
      expect(hits.at(-1)!.body.user_message).toBe('approved')
    })

    test('a target that stays down is retried with growing backoff, then marked failed and shown to the owner', async () => {
      await start(['127.0.0.1'])
      statuses.push(503, 503, 503, 503, 503)
      const { u, instanceId, q } = await askAndAnswer(`http://127.0.0.1:${server.port}/resume/down`)
      await until(async () => (await row(q.messageId))?.state === 'failed')
      expect(await row(q.messageId)).toEqual({
        state: 'failed',
        attempts: 5,
        last_error: 'webhook answered HTTP 503',
      })
      expect(hits).toHaveLength(5)
      // The waits between attempts grow as backoffDelay says (test/notify/pacing.test.ts): measured
      // here they would also hold the machine's timer delays.
      const s = await webLogin(t.app, u.email, 'correct horse battery')
      const page = await webGet(t.app, `/instances/${instanceId}`, s)
      expect(page.text).toContain('Deliveries that failed')
      expect(page.text).toContain(`Webhook http://127.0.0.1:${server.port}/resume/down`)
      expect(page.text.replace(/<[^>]+>/g, '')).toContain(
        'gave up after 5 attempts: webhook answered HTTP 503',
      )
    })

    test('an allowed hook gets one POST with Omnara’s body, and later messages do not call it again', async () => {
      await start(['127.0.0.1'])
      const { u, instanceId, q, a, answer } = await askAndAnswer(`http://127.0.0.1:${server.port}/resume/abc`)
      await until(async () => (await row(q.messageId))?.state === 'sent')
      const later = await answer('one more thing')
      expect(await row(later.messageId)).toBeUndefined() // nothing queued, so nothing to send
      await outbox?.stop() // waits for sends in flight
      expect(hits).toHaveLength(1)
      const hit = hits[0]!
      expect(hit.headers.get('x-omnara-webhook')).toBe('true')
      expect(hit.headers.get('content-type')).toBe('application/json')
      // The same key on every attempt of this call, so a receiver can drop a repeat.
      const [d] = await t.database.query<{ id: string }>(
        `select id from deliveries where message_id = $1 and kind = 'webhook'`,
        [q.messageId],
      )
      expect(hit.headers.get('idempotency-key')).toBe(d!.id)
      expect(Object.keys(hit.body)).toEqual([
        'user_message',
        'user_id',
        'message_id',
        'agent_instance_id',
        'timestamp',
      ])
      expect(hit.body).toMatchObject({
        user_message: 'approved',
        user_id: u.id,
        message_id: a.messageId,
        agent_instance_id: instanceId,
      })
      expect(String(hit.body.timestamp)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$/)
    })

    test('loopback is refused without PARLEY_WEBHOOK_ALLOW: nothing is sent, the row says why', async () => {
      await start([])
      const { q } = await askAndAnswer(`http://127.0.0.1:${server.port}/resume/abc`)
      await until(async () => (await row(q.messageId))?.state === 'failed')
      expect((await row(q.messageId))!.last_error).toContain('private address')
      expect(hits).toHaveLength(0)
    })

    test('a 500 is retried until the hook answers 200', async () => {
      statuses.push(500, 503)
      await start(['127.0.0.1/32'])
      const { q } = await askAndAnswer(`http://127.0.0.1:${server.port}/resume/abc`)
      await until(async () => (await row(q.messageId))?.state === 'sent')
      expect(hits).toHaveLength(3)
      expect((await row(q.messageId))!.attempts).toBe(2)
    }, 15_000)
  })
}
