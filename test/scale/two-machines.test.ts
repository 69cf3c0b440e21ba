// Two Parley processes on one Postgres, as two Fly machines: LISTEN/NOTIFY is their only link.
// Started together on an empty database they migrate it once; an agent waiting on A (REST
// long-poll, MCP ask_question, a held hook request) gets the answer given on B; a dashboard stream
// on A shows a message posted on B; Telegram's long polling is held by one of them and moves to
// the other when the holder dies; an outbox row is sent once although both run an outbox.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createWebSession, SESSION_COOKIE } from '../../src/auth/web-sessions.ts'
import { createLinkCode } from '../../src/core/links.ts'
import { connectPostgres, type Database } from '../../src/db/client.ts'
import { pendingMigrations } from '../../src/db/migrate.ts'
import { fixture } from '../agents/hooks-fixture.ts'
import { FakeTelegram } from '../fakes/telegram.ts'
import { hasPostgres, makeUser, until, uuid } from '../helpers.ts'
import { emptyDatabase, type Machine, startMachine } from './machines.ts'

type User = Awaited<ReturnType<typeof makeUser>>

export function agentClient(base: string, key: string) {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const json = async (res: Promise<Response>) => {
    const r = await res
    return { status: r.status, headers: r.headers, body: await r.json() }
  }
  return {
    ask: (id: string, content: string) =>
      json(
        fetch(`${base}/api/v1/messages/agent`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            agent_instance_id: id,
            agent_type: 'x',
            content,
            requires_user_input: true,
          }),
        }),
      ),
    reply: (id: string, content: string) =>
      json(
        fetch(`${base}/api/v1/messages/user`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ agent_instance_id: id, content, mark_as_read: false }),
        }),
      ),
    poll: (id: string, cursor: string, wait = 30) =>
      json(
        fetch(
          `${base}/api/v1/messages/pending?agent_instance_id=${id}&last_read_message_id=${cursor}&wait=${wait}`,
          { headers },
        ),
      ),
    hook: (sessionId: string) =>
      json(
        fetch(`${base}/hooks/claude-code?timeout=60`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            ...fixture('claude-code', 'permission-request-bash'),
            session_id: sessionId,
          }),
        }),
      ),
    mcp: async () => {
      const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      })
      const client = new Client({ name: 'two-machines', version: '1' })
      await client.connect(transport)
      return client
    },
  }
}

/** Resolves once `id` has an open question (the agent on the other machine is waiting). */
export const questionOpen = (db: Database, id: string) =>
  until(
    async () =>
      (
        await db.query(
          `select 1 from messages where instance_id = $1 and requires_user_input and answered_at is null`,
          [id],
        )
      ).length > 0,
    10_000,
    `an open question on ${id}`,
  )

describe.skipIf(!hasPostgres())('two machines on one Postgres', () => {
  let dbUrl: string
  let drop: () => Promise<void>
  let db: Database
  let fake: FakeTelegram
  let a: Machine
  let b: Machine
  let alice: User
  beforeAll(async () => {
    fake = new FakeTelegram().start()
    ;({ url: dbUrl, drop } = await emptyDatabase())
    const env = { TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_API_ROOT: fake.apiRoot }
    // Both at once, on a database nothing has migrated yet.
    ;[a, b] = await Promise.all([startMachine(dbUrl, env), startMachine(dbUrl, env)])
    db = connectPostgres(dbUrl)
    alice = await makeUser(db.db, 'alice')
  }, 60_000)
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await db?.close()
    fake.stop()
    await drop?.()
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

    const restId = uuid()
    const q = await onA.ask(restId, 'ship it?')
    const polled = onA.poll(restId, q.body.message_id)

    const mcpId = uuid()
    const mcp = await onA.mcp()
    const asked = mcp.callTool({
      name: 'ask_question',
      arguments: { agent_instance_id: mcpId, agent_type: 'x', question_text: 'which branch?' },
    })

    const hookId = uuid()
    const held = onA.hook(hookId)

    await Promise.all([questionOpen(db, mcpId), questionOpen(db, hookId)])
    // The long-poll parks behind its question; give it the reply from B.
    await onB.reply(restId, 'yes, ship it')
    await onB.reply(mcpId, 'main')
    await onB.reply(hookId, 'not now')

    const rest = await polled
    expect(rest.status).toBe(200)
    expect(rest.body.messages.map((m: { content: string }) => m.content)).toEqual(['yes, ship it'])
    const ask = (await asked) as { content: { text: string }[] }
    expect(ask.content[0]!.text).toContain('main')
    const hook = await held
    expect(hook.status).toBe(200)
    expect(hook.body.hookSpecificOutput.decision).toMatchObject({ behavior: 'deny' })
    expect(hook.body.hookSpecificOutput.decision.message).toContain('not now')
    await mcp.close()
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
    // Both outboxes were woken by the same event; give the slower one its chance to send twice.
    await Bun.sleep(1000)
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
