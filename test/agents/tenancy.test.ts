// Tenancy: one user's key can neither read nor change another user's agent instance, through any
// REST endpoint or MCP tool. Every attempt is a 404 (never a 400/403 that confirms the id exists),
// and afterwards the owner's rows are byte-for-byte what they were.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { loadConfig } from '../../src/config.ts'
import { type Parley, startParley } from '../../src/main.ts'
import {
  call,
  dbKinds,
  freshDatabase,
  makeUser,
  type TestApp,
  type TestDb,
  testApp,
  uuid,
} from '../helpers.ts'

type User = Awaited<ReturnType<typeof makeUser>>
type ToolResult = {
  structuredContent?: Record<string, unknown>
  content: { text: string }[]
  isError?: boolean
}
type Snapshot = {
  instance: string[]
  messages: string[]
  deliveries: string[]
  agentTypes: number
  aliceAgentTypes: string[]
  totals: { instances: number; messages: number }
}

/** The 404 every cross-tenant request must get: Parley's error shape plus Omnara's `detail`. */
function expectNotFound(r: { status: number; json: unknown; headers: Headers }) {
  expect(r.status).toBe(404)
  expect(r.headers.get('content-type')).toContain('application/json')
  expect(r.json).toEqual({
    error: { code: 'NOT_FOUND', message: expect.any(String) },
    detail: expect.any(String),
  })
  const body = r.json as { error: { message: string }; detail: string }
  expect(body.detail).toBe(body.error.message)
  expect(body.detail.toLowerCase()).toContain('not found')
}

for (const kind of dbKinds()) {
  describe(`tenancy (${kind})`, () => {
    let db: TestDb
    let t: TestApp
    let parley: Parley
    let alice: User
    let bob: User
    const clients: Client[] = []
    // Alice's instance and messages.
    const instanceId = uuid()
    let stepId: string
    let webhookQuestionId: string
    let answerId: string
    let openQuestionId: string
    let before: Snapshot

    const snapshot = async (): Promise<Snapshot> => {
      const q = t.database.query
      const json = async (sql: string, params: unknown[] = []) =>
        (await q<{ j: string }>(sql, params)).map((r) => r.j)
      const count = async (sql: string) => (await q<{ n: number }>(sql))[0]!.n
      return {
        instance: await json('select to_jsonb(i)::text as j from agent_instances i where id = $1', [
          instanceId,
        ]),
        messages: await json(
          'select to_jsonb(m)::text as j from messages m where instance_id = $1 order by id',
          [instanceId],
        ),
        // The running outbox may be working on alice's own webhook meanwhile (its state, attempts
        // and next attempt move); what bob must not change is which rows exist and what they carry.
        deliveries: await json(
          `select (to_jsonb(d) - 'state' - 'attempts' - 'last_error' - 'next_attempt_at')::text as j
           from deliveries d order by id`,
        ),
        agentTypes: await count('select count(*)::int as n from agent_types'),
        aliceAgentTypes: await json(
          'select to_jsonb(a)::text as j from agent_types a where user_id = $1 order by id',
          [alice.id],
        ),
        totals: {
          instances: await count('select count(*)::int as n from agent_instances'),
          messages: await count('select count(*)::int as n from messages'),
        },
      }
    }

    const asAlice = (method: string, path: string, body?: unknown) =>
      call(t.app, method, `/api/v1${path}`, { key: alice.key, body })
    const asBob = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      call(t.app, method, `/api/v1${path}`, { key: bob.key, body, headers })

    beforeAll(async () => {
      db = await freshDatabase(kind)
      t = await testApp(kind, { db })
      parley = await startParley(loadConfig({ PORT: '0' }), {
        database: db.database,
        quiet: true,
        mcp: { progressMs: 200 },
      })
      alice = await makeUser(db.database.db, 'alice')
      bob = await makeUser(db.database.db, 'bob')

      const step = await asAlice('POST', '/messages/agent', {
        agent_instance_id: instanceId,
        agent_type: 'Claude Code',
        content: 'Reading the repository',
      })
      expect(step.status).toBe(200)
      stepId = step.json.message_id
      const hook = await asAlice('POST', '/messages/agent', {
        agent_instance_id: instanceId,
        content: 'Approve invoice?',
        requires_user_input: true,
        message_metadata: { webhook_url: 'https://n8n.example.com/webhook-waiting/1/node' },
      })
      webhookQuestionId = hook.json.message_id
      const answer = await asAlice('POST', '/messages/user', {
        agent_instance_id: instanceId,
        content: 'approved',
        mark_as_read: false,
      })
      expect(answer.status).toBe(200)
      answerId = answer.json.message_id
      const open = await asAlice('POST', '/messages/agent', {
        agent_instance_id: instanceId,
        content: 'Deploy to production?',
        requires_user_input: true,
        options: ['Yes', 'No'],
      })
      openQuestionId = open.json.message_id
      const fixture = await t.database.query<{ n: number }>(
        'select count(*)::int as n from deliveries where message_id = $1',
        [webhookQuestionId],
      )
      expect(fixture[0]!.n).toBe(1)
      before = await snapshot()
      expect(before.instance).toHaveLength(1)
      expect(before.messages).toHaveLength(4)
    }, 60_000)

    afterAll(async () => {
      for (const c of clients) await c.close().catch(() => {})
      await parley.stop()
      await t.close()
      await db.drop()
    })

    test('alice still sees her own instance (the fixture is real)', async () => {
      const r = await asAlice('GET', `/agent-instances/${instanceId}`)
      expect(r.status).toBe(200)
      expect(r.json.status).toBe('AWAITING_INPUT')
      expect(r.json.agent_type_name).toBe('claude code')
    })

    test('POST /messages/agent to alice’s instance is a 404, with or without agent_type', async () => {
      expectNotFound(
        await asBob('POST', '/messages/agent', { agent_instance_id: instanceId, content: 'hijack' }),
      )
      expectNotFound(
        await asBob('POST', '/messages/agent', {
          agent_instance_id: instanceId,
          agent_type: 'Claude Code',
          content: 'hijack step',
        }),
      )
      expectNotFound(
        await asBob('POST', '/messages/agent', {
          agent_instance_id: instanceId,
          agent_type: 'bob-only-type',
          content: 'hijack question',
          requires_user_input: true,
          options: ['a', 'b'],
          message_metadata: { webhook_url: 'https://evil.example.com/hook' },
        }),
      )
      // Upper case and no hyphens name the same instance: still not bob's.
      expectNotFound(
        await asBob('POST', '/messages/agent', {
          agent_instance_id: instanceId.toUpperCase().replace(/-/g, ''),
          agent_type: 'x',
          content: 'hijack by another spelling',
        }),
      )
    })

    test('POST /messages/agent with an Idempotency-Key alice could have used is still a 404', async () => {
      expectNotFound(
        await asBob(
          'POST',
          '/messages/agent',
          { agent_instance_id: instanceId, agent_type: 'x', content: 'replay?' },
          { 'idempotency-key': 'shared-key' },
        ),
      )
    })

    test('GET /messages/pending is a 404 with or without a cursor; wait=1 answers at once', async () => {
      const base = `/messages/pending?agent_instance_id=${instanceId}`
      expectNotFound(await asBob('GET', base))
      expectNotFound(await asBob('GET', `${base}&last_read_message_id=`))
      expectNotFound(await asBob('GET', `${base}&last_read_message_id=${openQuestionId}`))
      expectNotFound(await asBob('GET', `${base}&last_read_message_id=${stepId}`))
      const started = performance.now()
      expectNotFound(await asBob('GET', `${base}&last_read_message_id=${openQuestionId}&wait=1`))
      expectNotFound(await asBob('GET', `${base}&wait=1`))
      // No waiting on someone else's instance: both answered well before one second each.
      expect(performance.now() - started).toBeLessThan(1500)
    })

    test('POST /messages/user to alice’s instance is a 404 (and does not answer her open question)', async () => {
      expectNotFound(await asBob('POST', '/messages/user', { agent_instance_id: instanceId, content: 'Yes' }))
      expectNotFound(
        await asBob('POST', '/messages/user', {
          agent_instance_id: instanceId,
          content: 'No',
          mark_as_read: false,
        }),
      )
    })

    test('PATCH /messages/{id}/request-input on any of alice’s messages is a 404', async () => {
      for (const id of [stepId, webhookQuestionId, answerId, openQuestionId]) {
        const r = await asBob('PATCH', `/messages/${id}/request-input`)
        expectNotFound(r)
        expect(r.json.detail).toBe('Agent message not found or access denied')
      }
    })

    test('POST /sessions/end on alice’s instance is a 404', async () => {
      expectNotFound(await asBob('POST', '/sessions/end', { agent_instance_id: instanceId }))
    })

    test('POST /agent-instances with alice’s id is a 404 (not 403/409, which would confirm it exists)', async () => {
      expectNotFound(
        await asBob('POST', '/agent-instances', { agent_instance_id: instanceId, agent_type: 'Claude Code' }),
      )
      expectNotFound(
        await asBob('POST', '/agent-instances', {
          agent_instance_id: instanceId,
          agent_type: 'brand-new-bob-type',
          name: 'stolen',
          transport: 'ws',
        }),
      )
    })

    test('POST /agents/instances/{id}/heartbeat on alice’s instance is a 404', async () => {
      expectNotFound(await asBob('POST', `/agents/instances/${instanceId}/heartbeat`))
    })

    test('GET /agent-instances/{id} on alice’s instance is a 404', async () => {
      expectNotFound(await asBob('GET', `/agent-instances/${instanceId}`))
      expectNotFound(await asBob('GET', `/agent-instances/${instanceId}?message_limit=0`))
    })

    test('PUT /agent-instances/{id}/status on alice’s instance is a 404, whatever the status', async () => {
      expectNotFound(await asBob('PUT', `/agent-instances/${instanceId}/status`, { status: 'COMPLETED' }))
      // Ownership is checked before the value: an unsupported status does not reveal the instance.
      expectNotFound(await asBob('PUT', `/agent-instances/${instanceId}/status`, { status: 'PAUSED' }))
    })

    test('the 404s are indistinguishable from those for an id that does not exist', async () => {
      const ghost = uuid()
      const pairs: [string, string, unknown?][] = [
        ['GET', `/messages/pending?agent_instance_id=%ID%`],
        ['POST', '/messages/user', { agent_instance_id: '%ID%', content: 'x' }],
        ['POST', '/sessions/end', { agent_instance_id: '%ID%' }],
        ['POST', '/agents/instances/%ID%/heartbeat'],
        ['GET', '/agent-instances/%ID%'],
        ['PUT', '/agent-instances/%ID%/status', { status: 'COMPLETED' }],
      ]
      for (const [method, path, body] of pairs) {
        const fill = (id: string) => ({
          path: path.replace('%ID%', id),
          body: body === undefined ? undefined : JSON.parse(JSON.stringify(body).replace('%ID%', id)),
        })
        const a = fill(instanceId)
        const g = fill(ghost)
        const theirs = await asBob(method, a.path, a.body)
        const missing = await asBob(method, g.path, g.body)
        expect({ status: theirs.status, body: theirs.text }).toEqual({
          status: missing.status,
          body: missing.text,
        })
      }
      const unknownMessage = await asBob('PATCH', `/messages/${uuid()}/request-input`)
      const aliceMessage = await asBob('PATCH', `/messages/${stepId}/request-input`)
      expect(aliceMessage.text).toBe(unknownMessage.text)
    })

    describe('MCP over HTTP', () => {
      async function connect(key: string, headers: Record<string, string> = {}) {
        const transport = new StreamableHTTPClientTransport(new URL(`${parley.url}/mcp`), {
          requestInit: {
            headers: { authorization: `Bearer ${key}`, 'x-client-type': 'claude-code', ...headers },
          },
        })
        const client = new Client({ name: 'parley-tenancy-test', version: '1.0.0' })
        await client.connect(transport)
        clients.push(client)
        return client
      }
      const tool = async (client: Client, name: string, args: Record<string, unknown>) =>
        (await client.callTool({ name, arguments: args }, undefined, { timeout: 5_000 })) as ToolResult
      const expectToolNotFound = (r: ToolResult, name: string) => {
        expect(r.isError).toBe(true)
        expect(r.structuredContent).toBeUndefined()
        expect(r.content).toHaveLength(1)
        expect(r.content[0]!.text).toStartWith(`Error calling tool '${name}': `)
        expect(r.content[0]!.text.toLowerCase()).toContain('not found')
      }

      test('log_step with alice’s instance id is a not-found tool error', async () => {
        const client = await connect(bob.key)
        const r = await tool(client, 'log_step', {
          agent_instance_id: instanceId,
          step_description: 'sneaking in',
        })
        expectToolNotFound(r, 'log_step')
      })

      test('ask_question with alice’s instance id fails at once instead of blocking', async () => {
        const client = await connect(bob.key)
        const started = performance.now()
        const r = await tool(client, 'ask_question', {
          agent_instance_id: instanceId,
          question_text: 'Can I have your data?',
          options: ['Yes', 'No'],
        })
        expect(performance.now() - started).toBeLessThan(2_000)
        expectToolNotFound(r, 'ask_question')
      })

      test('end_session with alice’s instance id is a not-found tool error', async () => {
        const client = await connect(bob.key)
        expectToolNotFound(
          await tool(client, 'end_session', { agent_instance_id: instanceId }),
          'end_session',
        )
      })

      test('approve aimed at alice’s instance by the x-agent-instance-id header is a not-found tool error', async () => {
        const client = await connect(bob.key, { 'x-agent-instance-id': instanceId })
        const started = performance.now()
        const r = await tool(client, 'approve', { tool_name: 'Bash', input: { command: 'rm -rf /' } })
        expect(performance.now() - started).toBeLessThan(2_000)
        expectToolNotFound(r, 'approve')
      })

      test('approve aimed at alice’s instance by the agent_instance_id argument is a not-found tool error', async () => {
        const client = await connect(bob.key)
        const r = await tool(client, 'approve', {
          tool_name: 'Write',
          input: { file_path: '/etc/passwd' },
          agent_instance_id: instanceId,
        })
        expectToolNotFound(r, 'approve')
      })
    })

    describe('afterwards nothing of alice’s changed', () => {
      let after: Snapshot
      beforeAll(async () => {
        after = await snapshot()
      })

      test('her agent_instances row is byte-for-byte the same', () => {
        expect(after.instance).toEqual(before.instance)
      })

      test('every message of her instance is byte-for-byte the same, and no message was added', () => {
        expect(after.messages).toEqual(before.messages)
        expect(after.totals.messages).toBe(before.totals.messages)
      })

      test('the deliveries are byte-for-byte the same', () => {
        expect(after.deliveries).toEqual(before.deliveries)
      })

      test('no agent instance was created for bob', () => {
        expect(after.totals.instances).toBe(before.totals.instances)
      })

      test('no agent type was created or changed', () => {
        expect(after.aliceAgentTypes).toEqual(before.aliceAgentTypes)
        expect(after.agentTypes).toBe(before.agentTypes)
      })

      test('alice’s own view is unchanged: her open question is still waiting for her', async () => {
        const r = await asAlice('GET', `/messages/pending?agent_instance_id=${instanceId}`)
        expect(r.json).toEqual({ agent_instance_id: instanceId, messages: [], status: 'ok' })
        const inst = await asAlice('GET', `/agent-instances/${instanceId}`)
        expect(inst.json.status).toBe('AWAITING_INPUT')
      })
    })
  })
}
