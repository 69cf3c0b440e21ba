// Two Parley processes on one Postgres, as two Fly machines: LISTEN/NOTIFY is their only link.
// Started together on an empty database they migrate it once; an agent waiting on A (REST
// long-poll, MCP ask_question, a held hook request) gets the answer given on B; a dashboard stream
// on A shows a message posted on B; Telegram's long polling is held by one of them and moves to
// the other when the holder dies; an outbox row is sent once although both run an outbox.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createWebSession, SESSION_COOKIE } from '../../src/auth/web-sessions.ts'
import { createLinkCode } from '../../src/core/links.ts'
import type { Database } from '../../src/db/client.ts'
import { pendingMigrations } from '../../src/db/migrate.ts'
import { FakeTelegram } from '../fakes/telegram.ts'
import { freshDatabase, hasPostgres, makeUser, type TestDb, until, uuid } from '../helpers.ts'
import {
  ANSWERS,
  agentClient,
  answerThree,
  type Machine,
  startMachine,
  threeWaitingAgents,
} from './machines.ts'

type User = Awaited<ReturnType<typeof makeUser>>

const scrape = async (m: Machine) => (await fetch(`${m.url}/metrics`)).text()

describe.skipIf(!hasPostgres())('two machines on one Postgres', () => {
  let testDb: TestDb
  let db: Database
  let fake: FakeTelegram
  let a: Machine
  let b: Machine
  let alice: User
  beforeAll(async () => {
    fake = new FakeTelegram().start()
    testDb = await freshDatabase('postgres', { migrate: false })
    const dbUrl = testDb.url!
    const env = { TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_API_ROOT: fake.apiRoot }
    // Both at once, on a database nothing has migrated yet.
    ;[a, b] = await Promise.all([startMachine(dbUrl, env), startMachine(dbUrl, env)])
    db = testDb.database
    alice = await makeUser(db.db, 'alice')
  }, 60_000)
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    fake.stop()
    await testDb?.drop()
  })

  test('started together on an empty database, they apply each migration once', async () => {
    const tags = pendingMigrations().map((m) => m.tag)
    const rows = await db.query<{ tag: string }>('select tag from parley_migrations order by tag')
    expect(rows.map((r) => r.tag)).toEqual([...tags].sort())
    const appliers = [a, b].filter((m) => m.logged('migrations applied').length > 0)
    expect(appliers).toHaveLength(1)
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200)
  })

  test('an agent waiting on A gets the answer given on B: REST long-poll, MCP ask_question, hook request', async () => {
    const onA = agentClient(a.url, alice.key)
    const onB = agentClient(b.url, alice.key)

    const w = await threeWaitingAgents(db, onA)
    // A's metrics see its three waiting agents (the long-poll parks right after its question).
    await until(async () => (await scrape(a)).includes('\nparley_agents_waiting 3\n'), 5000, '3 waiting on A')
    await answerThree(onB, w)

    const rest = await w.polled
    expect(rest.status).toBe(200)
    expect(rest.body.messages.map((m: { content: string }) => m.content)).toEqual([ANSWERS.rest])
    const ask = await w.asked
    expect(ask.content[0]!.text).toContain(ANSWERS.mcp)
    const hook = await w.held
    expect(hook.status).toBe(200)
    expect(hook.body.hookSpecificOutput.decision).toMatchObject({ behavior: 'deny' })
    expect(hook.body.hookSpecificOutput.decision.message).toContain(ANSWERS.hook)
    await w.mcp.close()
    // The answers reached A through NOTIFY, timed by the event-bus delay histogram.
    expect(Number(/^parley_event_bus_delay_seconds_count (\d+)/m.exec(await scrape(a))?.[1])).toBeGreaterThan(
      0,
    )
  }, 30_000)

  test('a dashboard stream on A shows a message posted on B', async () => {
    const id = uuid()
    const onB = agentClient(b.url, alice.key)
    await onB.ask(id, 'first')
    const session = await createWebSession(db.db, alice.id)
    const abort = new AbortController()
    const res = await fetch(`${a.url}/events/instances/${id}`, {
      headers: { cookie: `${SESSION_COOKIE}=${session.token}`, accept: 'text/event-stream' },
      signal: abort.signal,
    })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let seen = ''
    const text = `posted on B ${uuid().slice(0, 8)}`
    // The stream is open once its first bytes arrive; then B posts.
    const first = await reader.read()
    seen += decoder.decode(first.value)
    await onB.ask(id, text)
    const deadline = Date.now() + 10_000
    while (!seen.includes(text) && Date.now() < deadline) {
      const { value, done } = await Promise.race([
        reader.read(),
        Bun.sleep(deadline - Date.now()).then(() => ({ value: undefined, done: true })),
      ])
      if (done) break
      seen += decoder.decode(value)
    }
    abort.abort()
    expect(seen).toContain(text)
  }, 20_000)

  test('an outbox row is sent once with both machines running their outbox', async () => {
    const user = await makeUser(db.db, 'tg')
    const code = await createLinkCode(db.db, user.id, 'telegram')
    fake.push(fake.message(8181, `/start ${code}`))
    await until(() => fake.chat(8181).some((m) => m.text.includes('Linked')), 10_000, 'linked')
    const id = uuid()
    const text = `deploy now ${uuid().slice(0, 8)}?`
    await agentClient(a.url, user.key).ask(id, text)
    await until(() => fake.chat(8181).some((m) => m.text.includes(text)), 10_000, 'question in Telegram')
    // Both outboxes were woken by the same event. Once the question's row is sent and nothing of
    // this user's is left pending, neither outbox has anything it could still send: count then.
    const states = () =>
      db.query<{ kind: string; state: string }>(
        `select kind, state from deliveries where user_id = $1 and channel = 'telegram'`,
        [user.id],
      )
    await until(
      async () => {
        const rows = await states()
        const question = rows.some((r) => r.kind === 'question' && r.state === 'sent')
        return question && rows.every((r) => r.state !== 'pending')
      },
      10_000,
      'the question sent and both outboxes idle',
    )
    expect(fake.chat(8181).filter((m) => m.text.includes(text))).toHaveLength(1)
    const sends = fake.callsOf('sendMessage').filter((c) => String(c.body.text).includes(text))
    expect(sends).toHaveLength(1)
  }, 30_000)

  test('Telegram long polling is held by one machine and moves to the other within 30 s when it dies', async () => {
    const polls = (m: Machine) => m.logged('long polling from this process').length > 0
    await until(() => polls(a) || polls(b), 10_000, 'a poller')
    expect(polls(a) && polls(b)).toBe(false)
    const [holder, other] = polls(a) ? [a, b] : [b, a]
    holder.signal('SIGKILL')
    await holder.exited
    // Its connection gone, Postgres frees the lock and the other machine's wait ends.
    await until(() => polls(other), 30_000, 'the other machine takes over')
    fake.push(fake.message(9191, '/help'))
    await until(() => fake.chat(9191).some((m) => m.text.includes('/status')), 10_000, '/help answered')
    expect(fake.chat(9191).filter((m) => m.text.includes('/status'))).toHaveLength(1)
  }, 60_000)
})
