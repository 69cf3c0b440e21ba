// No secret ever reaches the log. A scenario that touches every kind of secret (signup and login
// with a password, the session cookie and CSRF token, an API key made on the settings page and
// used by REST and a hook, the Telegram bot token, its webhook secret, PARLEY_SECRET and the
// metrics token) runs with the log at debug level; the whole log is then searched for each one.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { configSecrets, loadConfig } from '../src/config.ts'
import { createLinkCode } from '../src/core/links.ts'
import { configureLog, log, resetLog } from '../src/log.ts'
import { createParley, type Parley } from '../src/parley.ts'
import { fixture } from './agents/hooks-fixture.ts'
import { FakeTelegram } from './fakes/telegram.ts'
import { call, freshDatabase, type TestDb, until, uuid } from './helpers.ts'
import { csrfFrom, postForm, sessionCookieFrom, webGet } from './web/helpers.ts'

const captured: string[] = []
const capture = { write: (line: string) => void captured.push(line) }

describe('the log holds no secrets', () => {
  let db: TestDb
  let fake: FakeTelegram
  let parley: Parley
  const secrets = {
    password: 'a long password for the log test',
    parleySecret: 'parley-secret-0123456789-abcdefghijklmnop',
    metricsToken: 'metrics-token-for-the-log-test',
    botToken: '987654:LOGTEST-abcdefghijklmnopqrstuvwxyz',
    webhookSecret: 'telegram-webhook-secret-for-log-test',
  }
  beforeAll(async () => {
    fake = new FakeTelegram(secrets.botToken).start()
    db = await freshDatabase('pglite')
    const config = loadConfig({
      PARLEY_SECRET: secrets.parleySecret,
      PARLEY_METRICS_TOKEN: secrets.metricsToken,
      TELEGRAM_BOT_TOKEN: secrets.botToken,
      TELEGRAM_WEBHOOK_SECRET: secrets.webhookSecret,
      TELEGRAM_API_ROOT: fake.apiRoot,
    })
    configureLog({ level: 'debug', secrets: configSecrets(config), destination: capture })
    parley = await createParley(config, {
      database: db.database,
      telegram: { pacing: { perTargetMs: 10, perSecond: 500 } },
      outbox: { backoff: { baseMs: 50 } },
    })
    await parley.start()
  }, 60_000)
  afterAll(async () => {
    await parley.stop()
    resetLog()
    fake.stop()
    await db.drop()
  })

  test('signup, login, key, REST question and answer, hook, Telegram, metrics: none of it logged', async () => {
    const app = parley.app
    const used: string[] = Object.values(secrets)
    const email = `log-${uuid().slice(0, 8)}@example.com`
    const signup = await postForm(app, '/signup', { email, password: secrets.password, display_name: 'Log' })
    expect(signup.status).toBe(303)
    const login = await postForm(app, '/login', { email, password: secrets.password })
    const cookie = sessionCookieFrom(login)!
    expect(cookie).toBeTruthy()
    used.push(cookie.split('=')[1]!)
    const csrf = csrfFrom((await webGet(app, '/settings', { cookie })).text)!
    used.push(csrf)
    const made = await postForm(app, '/settings/keys', { name: 'laptop' }, { cookie, csrf })
    expect(made.status).toBe(201)
    const key = /prl_[A-Za-z0-9_-]+/.exec(made.text)![0]
    used.push(key)

    // REST: a question, answered by a person, read by the agent.
    const id = uuid()
    const q = await call(app, 'POST', '/api/v1/messages/agent', {
      key,
      body: { agent_instance_id: id, agent_type: 'x', content: 'deploy?', requires_user_input: true },
    })
    expect(q.status).toBe(200)
    await call(app, 'POST', '/api/v1/messages/user', { key, body: { agent_instance_id: id, content: 'yes' } })
    // A wrong key, a key in the query string, a bad body: refusals get logged too.
    expect(
      (await call(app, 'GET', `/api/v1/messages/pending?agent_instance_id=${id}&key=${key}`)).status,
    ).toBe(401)
    expect(
      (await call(app, 'POST', '/api/v1/messages/agent', { key, rawBody: `{"content":"${key}` })).status,
    ).toBe(422)

    // A hook call.
    const hook = await call(app, 'POST', '/hooks/claude-code', {
      key,
      body: { ...fixture('claude-code', 'session-start'), session_id: uuid() },
    })
    expect(hook.status).toBe(200)

    // Telegram: link a chat with a code, then a question goes there through the outbox.
    const userId = (
      await db.database.query<{ id: string }>('select id from users where email = $1', [email])
    )[0]!.id
    const code = await createLinkCode(db.database.db, userId, 'telegram')
    fake.push(fake.message(6161, `/start ${code}`))
    await until(() => fake.chat(6161).some((m) => m.text.includes('Linked')), 10_000, 'linked')
    fake.fail('sendMessage', { status: 500, description: 'Internal Server Error' })
    await call(app, 'POST', '/api/v1/messages/agent', {
      key,
      body: { agent_instance_id: id, content: 'and now?', requires_user_input: true },
    })
    await until(
      () => fake.chat(6161).some((m) => m.text.includes('and now?')),
      15_000,
      'question in Telegram',
    )
    // The failed first send was counted (and retried).
    const counted = await call(app, 'GET', '/metrics', { key: secrets.metricsToken })
    expect(counted.text).toMatch(/^parley_outbox_failures_total\{channel="telegram",outcome="retry"\} [1-9]/m)
    // The webhook route with its secret (a request Telegram would send).
    await app.handle(
      new Request('http://parley.test/telegram/webhook', {
        method: 'POST',
        headers: {
          'x-telegram-bot-api-secret-token': secrets.webhookSecret,
          'content-type': 'application/json',
        },
        body: '{"update_id":1}',
      }),
    )

    // Metrics, with and without the token.
    expect((await call(app, 'GET', '/metrics', { key: secrets.metricsToken })).status).toBe(200)
    expect((await call(app, 'GET', '/metrics', { key: `${secrets.metricsToken}x` })).status).toBe(401)

    await until(() => captured.some((l) => l.includes('"route":"/metrics"')), 5000, 'request lines')
    const all = captured.join('')
    expect(captured.length).toBeGreaterThan(10)
    for (const secret of used)
      expect({ leaked: all.includes(secret), secret }).toEqual({ leaked: false, secret })
  }, 60_000)

  test('fields named like secrets are redacted, and secrets quoted inside messages or errors are scrubbed', () => {
    const before = captured.length
    const key = 'prl_abcdefghijklmnopqrstuvwxyz0123456789ABCD'
    log.info({ password: 'hunter2-hunter2', headers: { authorization: `Bearer ${key}` } }, 'login attempt')
    log.info({ user: { token: 'tok-0123456789', email: 'a@example.com' } }, 'nested')
    const err = Object.assign(new Error('Network request failed'), {
      path: `${fake.apiRoot}/bot${secrets.botToken}/sendMessage`,
    })
    log.error({ err }, `calling https://api.telegram.org/bot${secrets.botToken}/getMe with ${key}`)
    log.warn(`metrics scraped with ${secrets.metricsToken}`)
    const lines = captured.slice(before).join('')
    for (const s of ['hunter2-hunter2', key, 'tok-0123456789', secrets.botToken, secrets.metricsToken]) {
      expect(lines).not.toContain(s)
    }
    expect(lines).toContain('a@example.com')
    expect(lines).toContain('[redacted]')
  })
})
