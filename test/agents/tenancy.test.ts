// Tenancy, as a matrix generated from the route table: every route the app serves (`app.routes`),
// every MCP tool (`tools/list`) and every hook endpoint is tried by bob, with his own key or
// session, against alice's instance, messages, key, session and chat link; and every button of
// her Telegram and Slack copies and every bot command, from bob's linked chat and from a stranger's. Each attempt is refused
// (404 where it names alice's things: never a 403 that confirms they exist, and the same bytes as
// for an id that does not exist), changes nothing of alice's, and shows nothing of hers in the
// body. A route or tool without a matrix entry fails the test: a new one must say how it is tried.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { COMMANDS, WEBHOOK_PATH } from '../../bots/telegram/runner.ts'
import { csrfTokenFor } from '../../src/auth/csrf.ts'
import { createWebSession, SESSION_COOKIE } from '../../src/auth/web-sessions.ts'
import { createLinkCode, linkChat } from '../../src/core/links.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { savePushSubscription } from '../../src/core/push-subscriptions.ts'
import type { Parley } from '../../src/parley.ts'
import { OWNER_ACTIONS } from '../../src/web/instance.ts'
import {
  jobFor,
  newSlackUser,
  type SlackFixture,
  type SlackUser,
  slackFixture,
} from '../bots/slack/fixture.ts'
import { FakeTelegram, startWithTelegram, WEBHOOK_SECRET } from '../fakes/telegram.ts'
import { mcpRpc, readSome } from '../fuzz/hostile.ts'
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
  WEBSOCKET_HANDSHAKE,
} from '../helpers.ts'
import { fixture } from './hooks-fixture.ts'

type User = Awaited<ReturnType<typeof makeUser>>

/** Alice's things, each carrying a marker that must never appear in an answer to bob. */
type Fixture = {
  instanceId: string
  stepId: string
  webhookQuestionId: string
  answerId: string
  openQuestionId: string
  keyId: string
  sessionId: string
  linkId: string
  pushId: string
  pushEndpoint: string
}

/**
 * One attempt by bob. `expect`: the status that refuses him, or 'own' for a route that only ever
 * works on bob's own things (it may succeed: alice's things must still be untouched and unseen).
 */
type Try = {
  method?: string
  path: string
  /** JSON for /api, /mcp and /hooks; a form for the dashboard. */
  body?: Record<string, unknown>
  expect: number | 'own'
  /** An unknown id would create an instance here: no comparison with one that does not exist. */
  creates?: boolean
}

const MARK = `m${crypto.randomUUID().slice(0, 8)}`
/** Strings of alice's that bob must never see. */
const secrets = {
  name: `alice-instance-${MARK}`,
  type: `alice-type-${MARK}`,
  step: `alice step ${MARK}`,
  question: `alice question ${MARK}?`,
  answer: `alice answer ${MARK}`,
  option: `alice option ${MARK}`,
  display: `Alice ${MARK}`,
  key: `alice key ${MARK}`,
}

const hookEvents = (f: Fixture, agent: 'claude-code' | 'codex'): Try[] =>
  [
    'user-prompt-submit',
    'stop',
    'session-end',
    agent === 'codex' ? 'permission-request' : 'permission-request-bash',
  ].map((name) => ({
    path: `/hooks/${agent}?timeout=1`,
    // A UUID session id names the instance: alice's.
    body: { ...fixture(agent, name), session_id: f.instanceId },
    expect: 404,
    creates: true,
  }))

const instancePaths = (f: Fixture) => [f.instanceId, f.instanceId.toUpperCase().replace(/-/g, '')]

/** How each route is tried. Keys are `METHOD path` exactly as `app.routes` lists them. */
const MATRIX: Record<string, (f: Fixture) => Try[]> = {
  'GET /healthz': () => [{ path: '/healthz', expect: 'own' }],
  'GET /health': () => [{ path: '/health', expect: 'own' }],
  'GET /readyz': () => [{ path: '/readyz', expect: 'own' }],
  'GET /metrics': () => [{ path: '/metrics', expect: 'own' }],
  'POST /slack/events': () => [{ path: '/slack/events', body: { type: 'event_callback' }, expect: 404 }],
  'POST /api/v1/messages/agent': (f) => [
    ...instancePaths(f).map((id) => ({
      path: '/api/v1/messages/agent',
      body: { agent_instance_id: id, agent_type: 'x', content: 'hijack' },
      expect: 404,
      creates: true,
    })),
    {
      path: '/api/v1/messages/agent',
      body: {
        agent_instance_id: f.instanceId,
        content: 'hijack question',
        requires_user_input: true,
        options: ['a'],
        message_metadata: { webhook_url: 'https://evil.example.com/hook' },
      },
      expect: 404,
      creates: true,
    },
  ],
  'GET /api/v1/messages/pending': (f) =>
    ['', `&last_read_message_id=${f.stepId}`, `&last_read_message_id=${f.openQuestionId}&wait=1`].map(
      (q) => ({
        path: `/api/v1/messages/pending?agent_instance_id=${f.instanceId}${q}`,
        expect: 404,
      }),
    ),
  'POST /api/v1/messages/user': (f) => [
    { path: '/api/v1/messages/user', body: { agent_instance_id: f.instanceId, content: 'Yes' }, expect: 404 },
    {
      path: '/api/v1/messages/user',
      body: { agent_instance_id: f.instanceId, content: 'No', mark_as_read: false },
      expect: 404,
    },
  ],
  'PATCH /api/v1/messages/:message_id/request-input': (f) =>
    [f.stepId, f.webhookQuestionId, f.answerId, f.openQuestionId].map((id) => ({
      method: 'PATCH',
      path: `/api/v1/messages/${id}/request-input`,
      expect: 404,
    })),
  'POST /api/v1/sessions/end': (f) => [
    { path: '/api/v1/sessions/end', body: { agent_instance_id: f.instanceId }, expect: 404 },
  ],
  'POST /api/v1/agent-instances': (f) => [
    {
      path: '/api/v1/agent-instances',
      body: { agent_instance_id: f.instanceId, agent_type: 'x', name: 'stolen', transport: 'ws' },
      expect: 404,
      creates: true,
    },
  ],
  'GET /api/v1/agent-instances/:id': (f) => [
    { path: `/api/v1/agent-instances/${f.instanceId}`, expect: 404 },
  ],
  'PUT /api/v1/agent-instances/:id/status': (f) =>
    // Ownership is checked before the value: an unsupported status does not reveal the instance.
    ['COMPLETED', 'PAUSED'].map((status) => ({
      method: 'PUT',
      path: `/api/v1/agent-instances/${f.instanceId}/status`,
      body: { status },
      expect: 404,
    })),
  'POST /api/v1/agents/instances/:id/heartbeat': (f) => [
    { path: `/api/v1/agents/instances/${f.instanceId}/heartbeat`, expect: 404 },
  ],
  'GET /api/v1/auth/verify': () => [{ path: '/api/v1/auth/verify', expect: 'own' }],
  // Each tool is its own entry in TOOLS below; here the list itself.
  'ALL /mcp': () => [{ path: '/mcp', body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, expect: 'own' }],
  'ALL /mcp/': () => [
    { path: '/mcp/', body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, expect: 'own' },
  ],
  'POST /hooks/claude-code': (f) => hookEvents(f, 'claude-code'),
  'POST /hooks/codex': (f) => hookEvents(f, 'codex'),
  'GET /assets/:file': () => [{ path: '/assets/parley.css', expect: 'own' }],
  'GET /login': () => [{ path: '/login', expect: 'own' }],
  'POST /login': () => [
    { path: '/login', body: { email: 'nobody@example.com', password: 'x' }, expect: 'own' },
  ],
  'GET /signup': () => [{ path: '/signup', expect: 'own' }],
  'POST /signup': () => [{ path: '/signup', body: { email: 'x', password: 'x' }, expect: 'own' }],
  'POST /logout': () => [{ path: '/logout', body: {}, expect: 'own' }],
  'GET /settings': () => [{ path: '/settings', expect: 'own' }],
  'POST /settings/keys': () => [{ path: '/settings/keys', body: { name: 'bob key 2' }, expect: 'own' }],
  'POST /settings/keys/:id/revoke': (f) => [
    { path: `/settings/keys/${f.keyId}/revoke`, body: {}, expect: 404 },
  ],
  'POST /settings/links/:id/reactivate': (f) => [
    { path: `/settings/links/${f.linkId}/reactivate`, body: {}, expect: 404 },
  ],
  'POST /settings/links/:id/unlink': (f) => [
    { path: `/settings/links/${f.linkId}/unlink`, body: {}, expect: 404 },
  ],
  'POST /settings/links/code': () => [
    { path: '/settings/links/code', body: { channel: 'telegram' }, expect: 'own' },
  ],
  'POST /settings/sessions/:id/revoke': (f) => [
    { path: `/settings/sessions/${f.sessionId}/revoke`, body: {}, expect: 404 },
  ],
  'POST /settings/sessions/revoke-others': () => [
    { path: '/settings/sessions/revoke-others', body: {}, expect: 'own' },
  ],
  'POST /settings/profile': () => [
    { path: '/settings/profile', body: { display_name: 'Bob' }, expect: 'own' },
  ],
  'POST /settings/notifications': () => [{ path: '/settings/notifications', body: {}, expect: 'own' }],
  'GET /start': () => [{ path: '/start', expect: 'own' }],
  'POST /start/key': () => [{ path: '/start/key', body: {}, expect: 'own' }],
  'GET /docs/json': () => [{ path: '/docs/json', expect: 'own' }],
  'GET /docs': () => [{ path: '/docs', expect: 'own' }],
  'GET /': () => [
    { path: '/', expect: 'own' },
    { path: `/?q=${MARK}`, expect: 'own' },
  ],
  'GET /events/inbox': () => [{ path: '/events/inbox', expect: 'own' }],
  'GET /instances/:id': (f) => instancePaths(f).map((id) => ({ path: `/instances/${id}`, expect: 404 })),
  'GET /instances/:id/messages': (f) => [
    { path: `/instances/${f.instanceId}/messages?before=${f.openQuestionId}`, expect: 404 },
  ],
  'POST /instances/:id/reply': (f) => [
    { path: `/instances/${f.instanceId}/reply`, body: { content: 'Yes' }, expect: 404 },
    {
      path: `/instances/${f.instanceId}/reply`,
      body: { question_id: f.openQuestionId, option: '0' },
      expect: 404,
    },
  ],
  'POST /instances/:id/:action': (f) =>
    Object.keys(OWNER_ACTIONS).map((action) => ({
      path: `/instances/${f.instanceId}/${action}`,
      body: { name: 'stolen', email: 'bob@example.com', access: 'WRITE' },
      expect: 404,
    })),
  'GET /events/instances/:id': (f) => [{ path: `/events/instances/${f.instanceId}`, expect: 404 }],
  'GET /instances/:id/diff': (f) =>
    instancePaths(f).map((id) => ({ path: `/instances/${id}/diff`, expect: 404 })),
  // The relay's sockets refuse before upgrading: a plain request shows what the handshake would get.
  'WS /relay/agent': (f) =>
    instancePaths(f).map((id) => ({ path: `/relay/agent?session_id=${id}`, expect: 404, creates: true })),
  'WS /relay/view/:id': (f) => instancePaths(f).map((id) => ({ path: `/relay/view/${id}`, expect: 404 })),
  // Web push: bob's own devices only; alice's subscription can be neither removed nor replaced.
  'GET /push/key': () => [{ path: '/push/key', expect: 'own' }],
  'POST /push/subscriptions': () => [
    { path: '/push/subscriptions', body: { endpoint: 'https://push.example.com/bob' }, expect: 'own' },
  ],
  'DELETE /push/subscriptions': (f) => [
    { method: 'DELETE', path: '/push/subscriptions', body: { endpoint: f.pushEndpoint }, expect: 'own' },
  ],
  'POST /settings/push/:id/remove': (f) => [
    { path: `/settings/push/${f.pushId}/remove`, body: {}, expect: 404 },
  ],
  'POST /push/answer/:token': () => [
    { path: '/push/answer/not-a-token', body: { action: '0' }, expect: 403 },
  ],
  'GET /manifest.webmanifest': () => [{ path: '/manifest.webmanifest', expect: 'own' }],
  'GET /sw.js': () => [{ path: '/sw.js', expect: 'own' }],
  'GET /offline': () => [{ path: '/offline', expect: 'own' }],
  'GET /favicon.svg': () => [{ path: '/favicon.svg', expect: 'own' }],
  'GET /favicon.ico': () => [{ path: '/favicon.ico', expect: 'own' }],
  'GET /apple-touch-icon.png': () => [{ path: '/apple-touch-icon.png', expect: 'own' }],
  'GET /icons/:file': () => [{ path: '/icons/icon-192.png', expect: 'own' }],
  'GET /events/waiting': () => [{ path: '/events/waiting', expect: 'own' }],
}

/** Each MCP tool, called by bob on alice's instance: a not-found tool error at once. */
const TOOLS: Record<string, (f: Fixture) => Record<string, unknown>[]> = {
  log_step: (f) => [{ agent_instance_id: f.instanceId, step_description: 'sneaking in' }],
  ask_question: (f) => [{ agent_instance_id: f.instanceId, question_text: 'Yours?', options: ['Yes'] }],
  end_session: (f) => [{ agent_instance_id: f.instanceId }],
  approve: (f) => [
    { tool_name: 'Write', input: { file_path: '/etc/passwd' }, agent_instance_id: f.instanceId },
  ],
}

const isWeb = (path: string) => !/^\/(api|mcp|hooks|slack|relay\/agent)/.test(path)

for (const kind of dbKinds()) {
  describe(`tenancy matrix (${kind})`, () => {
    let t: TestApp
    let alice: User
    let bob: User
    let f: Fixture
    let aliceWeb: { cookie: string }

    let tables: { table_name: string; column_name: string }[] | undefined
    /** Every row of alice's, in every table that names a user, and the messages of her instance. */
    const aliceRows = async () => {
      const q = t.database.query
      tables ??= await q<{ table_name: string; column_name: string }>(
        `select table_name, column_name from information_schema.columns
         where table_schema = 'public' and column_name in ('user_id', 'owner_id') order by 1`,
      )
      const out: Record<string, string[]> = {}
      // The outbox may be sending alice's own webhook meanwhile: its progress is not bob's doing.
      const volatile = `- 'state' - 'attempts' - 'last_error' - 'next_attempt_at' - 'last_used_at' - 'leased_until' - 'lease_owner'`
      for (const { table_name: table, column_name: col } of tables)
        out[table] = (
          await q<{ j: string }>(
            `select (to_jsonb(r) ${volatile})::text as j from "${table}" r where ${col} = $1 order by 1`,
            [alice.id],
          )
        ).map((r) => r.j)
      out.users = (
        await q<{ j: string }>('select to_jsonb(u)::text as j from users u where id = $1', [alice.id])
      ).map((r) => r.j)
      out.messages = (
        await q<{ j: string }>(
          'select to_jsonb(m)::text as j from messages m where instance_id = $1 order by id',
          [f.instanceId],
        )
      ).map((r) => r.j)
      out.totals = [
        String((await q<{ n: number }>('select count(*)::int as n from messages'))[0]!.n),
        String((await q<{ n: number }>('select count(*)::int as n from agent_instances'))[0]!.n),
      ]
      return out
    }

    /** Bob's request: his key for agents' routes, a fresh session of his (and its CSRF token) for the dashboard. */
    async function asBob(tr: Try): Promise<{ status: number; text: string }> {
      const headers: Record<string, string> = {}
      let body: string | undefined
      if (isWeb(tr.path)) {
        const s = await createWebSession(t.database.db, bob.id)
        headers.cookie = `${SESSION_COOKIE}=${s.token}`
        headers['x-csrf-token'] = csrfTokenFor(s.token)
        if (tr.body) {
          headers['content-type'] = 'application/x-www-form-urlencoded'
          body = new URLSearchParams(tr.body as Record<string, string>).toString()
        }
      } else {
        headers.authorization = `Bearer ${bob.key}`
        headers.accept = 'application/json, text/event-stream'
        if (tr.body) {
          headers['content-type'] = 'application/json'
          body = JSON.stringify(tr.body)
        }
      }
      // The relay's sockets: a handshake, or the request would not reach the socket route at all.
      if (tr.path.startsWith('/relay/')) Object.assign(headers, WEBSOCKET_HANDSHAKE)
      const method = tr.method ?? (tr.body ? 'POST' : 'GET')
      const res = await t.app.handle(
        new Request(`http://parley.test${tr.path}`, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(2000),
        }),
      )
      return { status: res.status, text: await readSome(res, 300) }
    }

    /** Bob's attempt: refused as `tr` says, nothing of alice's changed or shown. */
    async function attempt(tr: Try) {
      const before = await aliceRows()
      const r = await asBob(tr)
      const what = `${tr.method ?? (tr.body ? 'POST' : 'GET')} ${tr.path}`
      if (tr.expect === 'own') expect([what, r.status < 500]).toEqual([what, true])
      else expect([what, r.status]).toEqual([what, tr.expect])
      for (const s of Object.values(secrets)) expect([what, r.text.includes(s)]).toEqual([what, false])
      expect(r.text).not.toContain(alice.email)
      expect(await aliceRows()).toEqual(before)
      return r
    }

    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
      bob = await makeUser(t.database.db, 'bob')
      const asAlice = (method: string, path: string, body?: unknown) =>
        call(t.app, method, `/api/v1${path}`, { key: alice.key, body })
      const instanceId = uuid()
      await asAlice('POST', '/agent-instances', {
        agent_instance_id: instanceId,
        agent_type: secrets.type,
        name: secrets.name,
      })
      const step = await asAlice('POST', '/messages/agent', {
        agent_instance_id: instanceId,
        content: secrets.step,
      })
      const hook = await asAlice('POST', '/messages/agent', {
        agent_instance_id: instanceId,
        content: `${secrets.question} (webhook)`,
        requires_user_input: true,
        message_metadata: { webhook_url: 'https://n8n.example.com/webhook-waiting/1/node' },
      })
      const answer = await asAlice('POST', '/messages/user', {
        agent_instance_id: instanceId,
        content: secrets.answer,
        mark_as_read: false,
      })
      const open = await asAlice('POST', '/messages/agent', {
        agent_instance_id: instanceId,
        content: secrets.question,
        requires_user_input: true,
        options: [secrets.option, 'No'],
      })
      await t.database.query('update users set display_name = $1 where id = $2', [secrets.display, alice.id])
      await t.database.query('update api_keys set name = $1 where id = $2', [secrets.key, alice.keyId])
      const session = await createWebSession(t.database.db, alice.id)
      aliceWeb = { cookie: `${SESSION_COOKIE}=${session.token}` }
      await linkChat(t.database.db, await createLinkCode(t.database.db, alice.id, 'telegram'), {
        channel: 'telegram',
        target: '777001',
        chatId: '777001',
      })
      const [link] = await t.database.query<{ id: string }>(
        'select id from channel_links where user_id = $1',
        [alice.id],
      )
      const pushEndpoint = `https://push.example.com/alice-${MARK}`
      const pushId = await savePushSubscription(
        t.database.db,
        alice.id,
        { endpoint: pushEndpoint, keys: { p256dh: 'BAlice', auth: 'alice-auth' } },
        `alice phone ${MARK}`,
      )
      f = {
        pushId,
        pushEndpoint,
        instanceId,
        stepId: step.json.message_id,
        webhookQuestionId: hook.json.message_id,
        answerId: answer.json.message_id,
        openQuestionId: open.json.message_id,
        keyId: alice.keyId,
        sessionId: session.id,
        linkId: link!.id,
      }
    }, 60_000)
    afterAll(() => t.close())

    test('the fixture is real: alice sees her instance, question and secrets', async () => {
      const r = await call(t.app, 'GET', `/api/v1/agent-instances/${f.instanceId}`, { key: alice.key })
      expect([r.status, r.json.status, r.json.name]).toEqual([200, 'AWAITING_INPUT', secrets.name])
      const page = await t.app.handle(
        new Request(`http://parley.test/instances/${f.instanceId}`, { headers: { cookie: aliceWeb.cookie } }),
      )
      const html = await page.text()
      for (const s of [secrets.step, secrets.question, secrets.answer, secrets.name])
        expect(html).toContain(s)
    })

    test('every route the app serves has a matrix entry, and every entry a route', () => {
      const routes = t.app.routes.map((r) => `${r.method} ${r.path}`)
      expect(routes.filter((r) => !(r in MATRIX))).toEqual([])
      expect(Object.keys(MATRIX).filter((k) => !routes.includes(k))).toEqual([])
    })

    for (const [route, tries] of Object.entries(MATRIX)) {
      test(`${route}: bob is refused, sees nothing of alice's, changes nothing`, async () => {
        for (const tr of tries(f)) {
          const r = await attempt(tr)
          // A refusal for alice's id reads exactly like one for an id that does not exist.
          if (tr.expect === 404 && !isWeb(tr.path) && !tr.creates) {
            let json = JSON.stringify(tr)
            for (const id of [
              ...instancePaths(f),
              f.stepId,
              f.webhookQuestionId,
              f.answerId,
              f.openQuestionId,
            ])
              json = json.replaceAll(id, uuid())
            const ghost = JSON.parse(json) as Try
            const missing = await asBob(ghost)
            expect({ status: r.status, text: r.text }).toEqual({ status: missing.status, text: missing.text })
          }
        }
      })
    }

    describe('MCP tools', () => {
      // biome-ignore lint/suspicious/noExplicitAny: replies are asserted field by field
      const rpc = (body: unknown, headers?: Record<string, string>): Promise<any> =>
        mcpRpc(t.app, bob.key, body, headers)

      test('every tool the server lists has a matrix entry, and every entry a tool', async () => {
        const listed = (await rpc({ jsonrpc: '2.0', id: 1, method: 'tools/list' })).result.tools.map(
          (x: { name: string }) => x.name,
        )
        expect(listed.filter((n: string) => !(n in TOOLS))).toEqual([])
        expect(Object.keys(TOOLS).filter((n) => !listed.includes(n))).toEqual([])
      })

      for (const [tool, args] of Object.entries(TOOLS)) {
        test(`${tool} on alice's instance is a not-found tool error, at once, changing nothing`, async () => {
          for (const a of args(f)) {
            const before = await aliceRows()
            const reply = await rpc({
              jsonrpc: '2.0',
              id: 2,
              method: 'tools/call',
              params: { name: tool, arguments: a },
            })
            const result = reply.result as {
              isError?: boolean
              content: { text: string }[]
              structuredContent?: unknown
            }
            expect(result.isError).toBe(true)
            expect(result.structuredContent).toBeUndefined()
            expect(result.content[0]!.text).toStartWith(`Error calling tool '${tool}': `)
            expect(result.content[0]!.text.toLowerCase()).toContain('not found')
            for (const s of Object.values(secrets)) expect(JSON.stringify(reply)).not.toContain(s)
            expect(await aliceRows()).toEqual(before)
          }
        })
      }

      test('approve aimed at alice’s instance by the x-agent-instance-id header is refused too', async () => {
        const before = await aliceRows()
        const reply = await rpc(
          {
            jsonrpc: '2.0',
            id: 3,
            method: 'tools/call',
            params: { name: 'approve', arguments: { tool_name: 'Bash', input: { command: 'rm -rf /' } } },
          },
          { 'x-agent-instance-id': f.instanceId },
        )
        const text = JSON.stringify(reply)
        expect(text.toLowerCase()).toContain('not found')
        expect(await aliceRows()).toEqual(before)
      })
    })

    test('bob’s live inbox stream carries nothing of alice’s when her instance changes', async () => {
      const s = await createWebSession(t.database.db, bob.id)
      const res = await t.app.handle(
        new Request('http://parley.test/events/inbox', {
          headers: { cookie: `${SESSION_COOKIE}=${s.token}` },
          signal: AbortSignal.timeout(1000),
        }),
      )
      const reading = readSome(res, 300)
      await call(t.app, 'POST', '/api/v1/messages/agent', {
        key: alice.key,
        body: { agent_instance_id: f.instanceId, content: `${secrets.step} again` },
      })
      const text = await reading
      expect(text).toContain('connected')
      for (const s of Object.values(secrets)) expect(text).not.toContain(s)
    })
  })
}

type Query = TestApp['database']['query']

/** A user's messages and instances as stored: what another chat user must not change. */
const rowsOf = async (query: Query, userId: string) =>
  (
    await query<{ j: string }>(
      `select to_jsonb(m)::text as j from messages m where user_id = $1
       union all select to_jsonb(i)::text from agent_instances i where user_id = $1 order by 1`,
      [userId],
    )
  ).map((r) => r.j)

/** When a question was answered; null while it is open. */
const answeredAt = async (query: Query, questionId: string) =>
  (await query<{ answered_at: unknown }>('select answered_at from messages where id = $1', [questionId]))[0]!
    .answered_at

/** After a chat action: none of alice's text in what the bot said, none of her rows changed. */
function expectNothingOfHers(what: string, said: string, before: string[], after: string[]) {
  for (const secret of Object.values(secrets)) expect([what, said.includes(secret)]).toEqual([what, false])
  expect([what, after]).toEqual([what, before])
}

describe.each(dbKinds())('tenancy of the Telegram bot (%s)', (kind) => {
  let fake: FakeTelegram
  let testDb: TestDb
  let parley: Parley
  let owner: User
  const chats = { alice: 931_001, bob: 931_002, stranger: 931_003 }
  let questionId: string
  let copy: {
    message_id: number
    text: string
    reply_markup?: { inline_keyboard?: { callback_data?: string }[][] }
  }

  const post = (update: unknown) =>
    fetch(`http://127.0.0.1:${parley.port}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': WEBHOOK_SECRET },
      body: JSON.stringify(update),
    })
  const aliceState = () => rowsOf(testDb.database.query, owner.id)
  /** What the bot said to `chat` (messages, edits, popups) since `from` calls. */
  const saidTo = (chat: number, from: number) =>
    fake.calls
      .slice(from)
      .filter((c) => String(c.body.chat_id ?? '') === String(chat) || c.method === 'answerCallbackQuery')
      .map((c) => JSON.stringify(c.body))
      .join('\n')

  beforeAll(async () => {
    fake = new FakeTelegram().start()
    testDb = await freshDatabase(kind)
    parley = await startWithTelegram(fake, testDb.database)
    owner = await makeUser(testDb.database.db, 'alice')
    const bob = await makeUser(testDb.database.db, 'bob')
    for (const [user, chat] of [
      [owner, chats.alice],
      [bob, chats.bob],
    ] as const) {
      const code = await createLinkCode(testDb.database.db, user.id, 'telegram')
      await post(fake.message(chat, `/start ${code}`))
    }
    const q = await postAgentMessage(parley.core, {
      userId: owner.id,
      instanceId: uuid(),
      agentType: secrets.type,
      content: secrets.question,
      requiresUserInput: true,
      options: [secrets.option, 'No'],
    })
    questionId = q.messageId
    await until(
      () => fake.chat(chats.alice).some((m) => m.text.includes(secrets.question)),
      5000,
      'alice’s copy',
    )
    copy = fake.chat(chats.alice).find((m) => m.text.includes(secrets.question))! as typeof copy
  }, 60_000)
  afterAll(async () => {
    await parley.stop()
    fake.stop()
    await testDb.drop()
  })

  /** Every button alice's copy carries, and every command the bot offers, from bob's chat and from a stranger's. */
  const actions = () => [
    ...(copy.reply_markup?.inline_keyboard ?? [])
      .flat()
      .flatMap((b) =>
        b.callback_data ? [{ what: `button ${b.callback_data}`, data: b.callback_data }] : [],
      ),
    ...[...COMMANDS.map((c) => `/${c.command}`), '/start', '/start NOT-A-CODE'].map((text) => ({
      what: `command ${text}`,
      text,
    })),
    { what: 'a reply to alice’s copy', text: 'Yes', replyTo: copy.message_id },
    { what: 'a plain message', text: secrets.option },
  ]

  test('alice’s copy has buttons (the fixture is real)', () => {
    expect(actions().filter((a) => 'data' in a).length).toBeGreaterThan(1)
  })

  for (const who of ['bob', 'stranger'] as const) {
    test(`${who}'s chat: every button of alice’s copy and every command leave her question unanswered and unseen`, async () => {
      for (const action of actions()) {
        const before = await aliceState()
        const from = fake.calls.length
        const chat = chats[who]
        const update =
          'data' in action
            ? fake.callback(chat, copy.message_id, action.data!)
            : fake.message(chat, action.text!)
        if ('replyTo' in action) {
          // A reply as a modified client could send it: quoting alice's copy from another chat.
          ;(update as { message: Record<string, unknown> }).message.reply_to_message = {
            message_id: copy.message_id,
            date: 0,
            chat: { id: chats.alice, type: 'private' },
            text: copy.text,
          }
        }
        expect([action.what, (await post(update)).status]).toEqual([action.what, 200])
        expectNothingOfHers(action.what, saidTo(chat, from), before, await aliceState())
      }
      expect(await answeredAt(testDb.database.query, questionId)).toBeNull()
    }, 30_000)
  }

  test('the same first button from alice’s own chat answers her question (the actions are live)', async () => {
    const first = actions().find((a) => 'data' in a)!
    expect((await post(fake.callback(chats.alice, copy.message_id, first.data!))).status).toBe(200)
    await until(
      async () => (await answeredAt(testDb.database.query, questionId)) !== null,
      5000,
      'her answer',
    )
  })
})

describe.each(dbKinds())('tenancy of the Slack bot (%s)', (kind) => {
  let s: SlackFixture
  let alice: Awaited<ReturnType<SlackFixture['linkedUser']>>
  let bob: Awaited<ReturnType<SlackFixture['linkedUser']>>
  const stranger = newSlackUser()
  let questionId: string
  let ref: { channel: string; ts: string }
  let buttons: { action_id: string; value: string }[]

  const aliceState = () => rowsOf(s.database.query, alice.id)

  beforeAll(async () => {
    s = await slackFixture(kind)
    alice = await s.linkedUser('alice')
    bob = await s.linkedUser('bob')
    const q = await s.ask(alice.id, secrets.question, [secrets.option, 'No'])
    questionId = q.questionId
    const sent = await s.bot.adapter.send(
      await jobFor(s, 'question', questionId, `${alice.slack.teamId}:${alice.slack.userId}`),
    )
    ref = (sent as { externalRef: { channel: string; ts: string } }).externalRef
    // Every interactive element of alice's copy, as Slack would send its action back.
    buttons = []
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk)
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>
        if (typeof o.action_id === 'string')
          buttons.push({ action_id: o.action_id, value: String(o.value ?? '') })
        Object.values(o).forEach(walk)
      }
    }
    walk(s.fake.messages.get(`${ref.channel}:${ref.ts}`)!.blocks)
  }, 60_000)
  afterAll(() => s.close())

  /** Every button of alice's copy, her reply form, a reply in her thread, a DM and every command. */
  const actions = (who: SlackUser) => [
    ...buttons.map((b) => ({ what: `button ${b.action_id}`, run: () => s.press(who, b.action_id, b.value) })),
    { what: 'the reply form', run: () => s.submit(who, questionId, 'Yes') },
    { what: 'a reply in her thread', run: () => s.dm(who, 'Yes', { thread_ts: ref.ts }) },
    { what: 'a DM', run: () => s.dm(who, secrets.option) },
    ...['status', 'help', 'link NOT-A-CODE', 'unlink'].map((text) => ({
      what: `/parley ${text}`,
      run: () => s.command(who, text),
    })),
  ]

  test('alice’s copy has buttons (the fixture is real)', () => {
    expect(buttons.length).toBeGreaterThan(1)
  })

  for (const who of ['bob', 'stranger'] as const) {
    test(`${who}: every button of alice’s copy, her form, her thread and every command leave her question unanswered and unseen`, async () => {
      const user = who === 'bob' ? bob.slack : stranger
      for (const action of actions(user)) {
        const before = await aliceState()
        const calls = s.fake.calls.length
        const r = await action.run()
        expect([action.what, r.status]).toEqual([action.what, 200])
        const said = [
          r.body,
          ...r.replies,
          ...s.fake.calls.slice(calls).map((c) => JSON.stringify(c.args)),
        ].join('\n')
        expectNothingOfHers(action.what, said, before, await aliceState())
      }
      expect(await answeredAt(s.database.query, questionId)).toBeNull()
    }, 30_000)
  }

  test('the same first button pressed by alice answers her question (the actions are live)', async () => {
    const option = buttons.find((b) => b.action_id.startsWith('parley.option'))!
    await s.press(alice.slack, option.action_id, option.value)
    expect(await answeredAt(s.database.query, questionId)).not.toBeNull()
  })
})
