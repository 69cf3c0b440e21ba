// Web push end to end against a local push service that checks VAPID and decrypts the payload:
// subscribing from a logged-in page, a question reaching each device with its first options as
// actions, an action answering the waiting agent through its single-use link, the notification
// replaced by the answer's wording, a 410 removing the subscription, and quiet hours.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { APPROVAL_OPTIONS } from '../../src/core/hooks/approval-text.ts'
import { setNotificationPrefs } from '../../src/core/notification-prefs.ts'
import { listPushSubscriptions } from '../../src/core/push-subscriptions.ts'
import { deliveries } from '../../src/db/schema.ts'
import type { DeliveryJob } from '../../src/notify/channel.ts'
import { PushAdapter } from '../../src/notify/push/adapter.ts'
import { AnswerLinks } from '../../src/notify/push/answer-links.ts'
import { vapidKeys } from '../../src/notify/push/index.ts'
import { FakePushService, type Received } from '../fakes/push.ts'
import { call, dbKinds, makeUser, type TestApp, testApp, until, uuid } from '../helpers.ts'
import { postForm, webGet, webLogin } from '../web/helpers.ts'

describe('push answer links', () => {
  const links = new AnswerLinks('a signing secret of at least 32 characters')
  const claims = { subscriptionId: crypto.randomUUID(), questionId: crypto.randomUUID(), actions: ['0', '2'] }
  test('carry the subscription and the question, signed', async () => {
    const token = await links.sign(claims)
    expect(await links.verify(token)).toEqual(claims)
    expect(await new AnswerLinks('another secret, also 32 characters long').verify(token)).toBeNull()
    expect(await links.verify(`${token.slice(0, -2)}xx`)).toBeNull()
  })
  test('expire with the question', async () => {
    const past = new Date(Date.now() - 1000).toISOString()
    expect(await links.verify(await links.sign(claims, past))).toBeNull()
    const soon = new Date(Date.now() + 60_000).toISOString()
    expect(await links.verify(await links.sign(claims, soon))).toEqual(claims)
  })
})

for (const kind of dbKinds()) {
  describe(`web push (${kind})`, () => {
    let t: TestApp
    let push: FakePushService
    let user: Awaited<ReturnType<typeof makeUser>>
    let session: { cookie: string; csrf: string }

    const subscribe = (subscription: unknown, csrf = session.csrf) =>
      call(t.app, 'POST', '/push/subscriptions', {
        body: subscription,
        headers: {
          cookie: session.cookie,
          'x-csrf-token': csrf,
          'user-agent': 'Mozilla/5.0 (Linux; Android 14) Chrome/131.0',
        },
      })

    const ask = (instanceId: string, content: string, options?: string[]) =>
      call(t.app, 'POST', '/api/v1/messages/agent', {
        key: user.key,
        body: {
          agent_instance_id: instanceId,
          agent_type: 'claude code',
          content,
          requires_user_input: true,
          options,
        },
      })

    const forQuestion = (id: string) => (r: Received) => r.payload.tag === `q-${id}`

    beforeAll(async () => {
      push = new FakePushService()
      t = await testApp(kind, { env: { PARLEY_WEBHOOK_ALLOW: '127.0.0.1' } })
      user = await makeUser(t.core.db, 'pusher')
      session = await webLogin(t.app, user.email, 'correct horse battery')
    }, 60_000)
    afterAll(async () => {
      await t.close()
      await push.stop()
    })

    test('GET /push/key gives the VAPID public key; subscribing checks the session token and the keys', async () => {
      const key = await call(t.app, 'GET', '/push/key')
      expect(key.status).toBe(200)
      expect(Buffer.from(key.json.publicKey, 'base64url').length).toBe(65)
      const { subscription } = push.device()
      expect((await subscribe(subscription, 'wrong')).status).toBe(403)
      const bad = await subscribe({ ...subscription, keys: { ...subscription.keys, auth: 'short' } })
      expect(bad.status).toBe(422)
      expect(bad.json.error).toMatchObject({ code: 'INVALID_INPUT', field: 'keys.auth' })
      expect(await listPushSubscriptions(t.core.db, user.id)).toHaveLength(0)
      const ok = await subscribe(subscription)
      expect(ok.status).toBe(201)
      const devices = await listPushSubscriptions(t.core.db, user.id)
      expect(devices.map((d) => d.device)).toEqual(['Chrome on Android'])
      const gone = await call(t.app, 'DELETE', '/push/subscriptions', {
        body: { endpoint: subscription.endpoint },
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
      })
      expect(gone.status).toBe(200)
      expect(await listPushSubscriptions(t.core.db, user.id)).toHaveLength(0)
    }, 20_000)

    test('an action answers the waiting agent once; the notification then says who answered and how', async () => {
      const phone = push.device()
      const laptop = push.device()
      expect((await subscribe(phone.subscription)).status).toBe(201)
      expect((await subscribe(laptop.subscription)).status).toBe(201)
      const instanceId = uuid()
      const asked = await ask(instanceId, 'Run `rm -rf build`?', ['Allow', 'Deny', 'Always allow'])
      expect(asked.status).toBe(200)
      const questionId = asked.json.message_id as string
      const [first, second] = await push.waitFor(2, forQuestion(questionId))
      expect(new Set([first!.device, second!.device])).toEqual(new Set([phone.id, laptop.id]))
      expect(first!.payload).toMatchObject({
        title: expect.stringContaining('claude code'),
        body: 'Run rm -rf build?',
        url: expect.stringContaining(`/instances/${instanceId}#`),
        actions: [
          { action: '0', title: 'Allow' },
          { action: '1', title: 'Deny' },
        ],
      })
      expect(first!.headers.get('urgency')).toBe('high')
      // The agent waits for the answer.
      const waiting = call(
        t.app,
        'GET',
        `/api/v1/messages/pending?agent_instance_id=${instanceId}&last_read_message_id=${questionId}&wait=20`,
        { key: user.key },
      )
      const answerPath = new URL(first!.payload.answer_url as string).pathname
      const bogus = await call(t.app, 'POST', answerPath, { body: { action: 'yes' } })
      expect(bogus.status).toBe(422)
      expect(bogus.json.error.field).toBe('action')
      const answered = await call(t.app, 'POST', answerPath, { body: { action: '0' } })
      expect(answered.status).toBe(200)
      const pending = await waiting
      expect(pending.json.messages.map((m: { content: string }) => m.content)).toEqual(['Allow'])
      // Single use: the same link (or the other device's) is refused once the question is answered.
      const again = await call(t.app, 'POST', answerPath, { body: { action: '1' } })
      expect(again.status).toBe(409)
      expect(again.json.error.message).toMatch(/^Already answered by pusher via Web push/)
      const other = new URL(second!.payload.answer_url as string).pathname
      expect((await call(t.app, 'POST', other, { body: { action: '1' } })).status).toBe(409)
      // Both notifications are replaced, same tag, with the one wording of the answer.
      const after = await push.waitFor(4, forQuestion(questionId))
      const replaced = after.filter((r) => r.payload.answer_url === null)
      expect(replaced).toHaveLength(2)
      expect(replaced[0]!.payload).toMatchObject({
        actions: [],
        body: expect.stringMatching(/^Answered by pusher via Web push/),
      })
    }, 20_000)

    test('an approval offers Allow and Deny; Deny from the notification denies', async () => {
      const phone = push.device()
      expect((await subscribe(phone.subscription)).status).toBe(201)
      const asked = await ask(uuid(), 'Allow Bash: `git push --force`?', [...APPROVAL_OPTIONS])
      const [got] = await push.waitFor(
        1,
        (r) => forQuestion(asked.json.message_id)(r) && r.device === phone.id,
      )
      expect(got!.payload.actions).toEqual([
        { action: '0', title: 'Allow' },
        { action: '2', title: 'Deny' },
      ])
      const path = new URL(got!.payload.answer_url as string).pathname
      // "Allow for this session" was not offered: the link cannot give it.
      const notOffered = await call(t.app, 'POST', path, { body: { action: '1' } })
      expect(notOffered.status).toBe(422)
      expect(notOffered.json.error.message).toBe(
        'action must be one of the notification’s actions ("0", "2")',
      )
      const denied = await call(t.app, 'POST', path, { body: { action: '2' } })
      expect(denied.json).toEqual({ answered: true, answer: 'Deny' })
      const [replaced] = await push.waitFor(
        1,
        (r) =>
          forQuestion(asked.json.message_id)(r) && r.device === phone.id && r.payload.answer_url === null,
      )
      expect(replaced!.payload.body).toMatch(/^Denied by pusher via Web push/)
    }, 20_000)

    test('the VAPID key pair is generated once and kept', async () => {
      const first = await vapidKeys(t.core.db, null)
      expect(await vapidKeys(t.core.db, null)).toEqual(first)
      expect((await call(t.app, 'GET', '/push/key')).json.publicKey).toBe(first.publicKey)
    })

    test('the settings page lists devices and removes one', async () => {
      const { subscription } = push.device()
      const id = (await subscribe(subscription)).json.id as string
      const page = await webGet(t.app, '/settings', session)
      expect(page.text).toContain(`data-endpoint="${subscription.endpoint}"`)
      expect(page.text).toContain(`/settings/push/${id}/remove`)
      // Subscribed browsers are devices, not linked chats.
      expect(page.text).not.toContain('Slack user ?')
      const removed = await postForm(t.app, `/settings/push/${id}/remove`, {}, session)
      expect(removed.status).toBe(303)
      expect((await listPushSubscriptions(t.core.db, user.id)).map((d) => d.id)).not.toContain(id)
      expect((await postForm(t.app, `/settings/push/${id}/remove`, {}, session)).status).toBe(404)
    })

    test('a push endpoint on a private address is refused unless PARLEY_WEBHOOK_ALLOW lists it', async () => {
      const device = push.device()
      const { subscription } = device
      const id = (await subscribe(subscription)).json.id as string
      const adapter = new PushAdapter({
        db: t.core.db,
        vapid: await vapidKeys(t.core.db, null),
        subject: 'mailto:push@parley.invalid',
        links: new AnswerLinks('a signing secret of at least 32 characters'),
        baseUrl: () => 'http://parley.test',
      })
      const job = {
        kind: 'question',
        target: id,
        instance: { id: uuid(), name: null, agentType: 'x', status: 'AWAITING_INPUT', ended: false, url: '' },
        message: { id: uuid(), content: 'Hi?', options: null, createdAt: new Date().toISOString() },
      } as unknown as DeliveryJob
      const result = await adapter.send(job)
      expect(result).toMatchObject({
        ok: false,
        retry: false,
        error: expect.stringContaining('private address'),
      })
      expect(push.received.filter((r) => r.device === device.id)).toEqual([])
      await call(t.app, 'DELETE', '/push/subscriptions', {
        body: { endpoint: subscription.endpoint },
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
      })
    })

    test('a server started with subscribed devices reads them ahead: its first push to one reads nothing', async () => {
      const device = push.device()
      const id = (await subscribe(device.subscription)).json.id as string
      let reads = 0
      const db = new Proxy(t.core.db, {
        get(target, name) {
          if (name === 'select') reads++
          return Reflect.get(target, name, target)
        },
      })
      const adapter = new PushAdapter({
        db,
        vapid: await vapidKeys(t.core.db, null),
        subject: 'mailto:push@parley.invalid',
        links: new AnswerLinks('a signing secret of at least 32 characters'),
        baseUrl: () => 'http://parley.test',
        allow: ['127.0.0.1'],
      })
      await adapter.warm()
      expect(reads).toBe(1)
      const questionId = uuid()
      const job = {
        kind: 'question',
        target: id,
        instance: { id: uuid(), name: null, agentType: 'x', status: 'AWAITING_INPUT', ended: false, url: '' },
        message: { id: questionId, content: 'Ready?', options: null, createdAt: new Date().toISOString() },
      } as unknown as DeliveryJob
      expect(await adapter.send(job)).toMatchObject({ ok: true })
      expect(reads).toBe(1)
      expect(push.received.filter((r) => r.device === device.id).map((r) => r.payload.tag)).toEqual([
        `q-${questionId}`,
      ])
      await call(t.app, 'DELETE', '/push/subscriptions', {
        body: { endpoint: device.subscription.endpoint },
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
      })
    })

    test('a forged or foreign answer link is refused', async () => {
      const forged = await call(t.app, 'POST', '/push/answer/eyJhbGciOiJIUzI1NiJ9.e30.x', {
        body: { action: '0' },
      })
      expect(forged.status).toBe(403)
      expect(forged.json.error.code).toBe('FORBIDDEN')
    })

    test('a push service answering 410 removes the subscription', async () => {
      const old = push.device()
      expect((await subscribe(old.subscription)).status).toBe(201)
      push.answer(old.id, 410)
      const before = (await listPushSubscriptions(t.core.db, user.id)).length
      await ask(uuid(), 'Still there?')
      await until(
        async () => (await listPushSubscriptions(t.core.db, user.id)).length === before - 1,
        15_000,
        'subscription removed',
      )
      const left = await listPushSubscriptions(t.core.db, user.id)
      expect(left.map((d) => d.endpoint)).not.toContain(old.subscription.endpoint)
      const errors = async () =>
        (await t.core.db.select().from(deliveries).where(eq(deliveries.channel, 'push')))
          .filter((d) => d.state === 'failed')
          .map((d) => d.lastError)
      await until(
        async () => (await errors()).includes('push service answered 410: subscription gone'),
        15_000,
        'the delivery failed with the 410',
      )
    }, 20_000)

    test('a push service failing for now (503) is retried by the outbox', async () => {
      const flaky = push.device()
      expect((await subscribe(flaky.subscription)).status).toBe(201)
      push.answer(flaky.id, 503)
      const asked = await ask(uuid(), 'Try again?')
      const questionId = asked.json.message_id as string
      const attempts = async () =>
        (await t.core.db.select().from(deliveries).where(eq(deliveries.messageId, questionId))).filter(
          (d) => d.lastError === 'push service answered HTTP 503',
        )
      await until(async () => (await attempts()).length > 0, 15_000, 'the first attempt failed')
      expect((await attempts())[0]!.state).toBe('pending')
      push.answer(flaky.id, 201)
      await push.waitFor(1, (r) => forQuestion(questionId)(r) && r.device === flaky.id, 10_000)
    }, 20_000)

    test('progress, when opted in, is one quiet notification per instance', async () => {
      await setNotificationPrefs(t.core.db, user.id, { questions: {}, progress: { push: true }, quiet: null })
      const instanceId = uuid()
      const said = await call(t.app, 'POST', '/api/v1/messages/agent', {
        key: user.key,
        body: { agent_instance_id: instanceId, agent_type: 'claude code', content: 'Built **3** packages' },
      })
      expect(said.status).toBe(200)
      const [got] = await push.waitFor(1, (r) => r.payload.tag === `progress-${instanceId}`)
      expect(got!.payload).toMatchObject({
        body: 'Built 3 packages',
        silent: true,
        actions: [],
        answer_url: null,
      })
      await setNotificationPrefs(t.core.db, user.id, {
        questions: {},
        progress: { push: false },
        quiet: null,
      })
    }, 20_000)

    test('in quiet hours a question still arrives, silently', async () => {
      const hhmm = (d: Date) => d.toISOString().slice(11, 16)
      const now = Date.now()
      await setNotificationPrefs(t.core.db, user.id, {
        questions: {},
        progress: {},
        quiet: { start: hhmm(new Date(now - 3600_000)), end: hhmm(new Date(now + 3600_000)) },
      })
      const asked = await ask(uuid(), 'Quietly?')
      const [got] = await push.waitFor(1, forQuestion(asked.json.message_id))
      expect(got!.payload.silent).toBe(true)
    }, 20_000)
  })
}
