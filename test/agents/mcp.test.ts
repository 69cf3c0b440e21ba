// MCP at /mcp, driven by the SDK's own Client over real HTTP against a running server.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { loadConfig } from '../../src/config.ts'
import { type Parley, startParley } from '../../src/main.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until } from '../helpers.ts'

type Structured = Record<string, unknown>

for (const kind of dbKinds()) {
  describe(`MCP tools (${kind})`, () => {
    let db: TestDb
    let parley: Parley
    let alice: Awaited<ReturnType<typeof makeUser>>
    const clients: Client[] = []

    beforeAll(async () => {
      db = await freshDatabase(kind)
      parley = await startParley(loadConfig({ PORT: '0' }), {
        database: db.database,
        quiet: true,
        mcp: { progressMs: 200 },
      })
      alice = await makeUser(db.database.db, 'alice')
    }, 60_000)
    afterAll(async () => {
      for (const c of clients) await c.close().catch(() => {})
      await parley.stop()
      await db.drop()
    })

    async function connect(key = alice.key, headers: Record<string, string> = {}) {
      const transport = new StreamableHTTPClientTransport(new URL(`${parley.url}/mcp`), {
        requestInit: {
          headers: { authorization: `Bearer ${key}`, 'x-client-type': 'claude-code', ...headers },
        },
      })
      const client = new Client({ name: 'parley-test', version: '1.0.0' })
      await client.connect(transport)
      clients.push(client)
      return client
    }
    const reply = (instanceId: string, content: string) =>
      fetch(`${parley.url}/api/v1/messages/user`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_instance_id: instanceId, content, mark_as_read: false }),
      })
    const tool = async (client: Client, name: string, args: Record<string, unknown>) => {
      const r = await client.callTool({ name, arguments: args })
      return r as { structuredContent?: Structured; content: { text: string }[]; isError?: boolean }
    }
    const waitForQuestion = async (instanceId: string) => {
      for (let i = 0; i < 200; i++) {
        const rows = await db.database.query<{ id: string }>(
          'select id from messages where instance_id = $1 and requires_user_input and answered_at is null',
          [instanceId],
        )
        if (rows.length > 0) return rows[0]!.id
        await Bun.sleep(25)
      }
      throw new Error('question never posted')
    }

    test('lists the four tools', async () => {
      const client = await connect()
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name).sort()).toEqual(['approve', 'ask_question', 'end_session', 'log_step'])
    })

    test('a missing or wrong key is refused with 401 before MCP runs', async () => {
      const res = await fetch(`${parley.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      })
      expect(res.status).toBe(401)
      expect((await res.json()).error).toBe('invalid_token')
      await expect(connect('prl_wrong')).rejects.toThrow()
    })

    test('log_step starts a session, then returns user feedback once', async () => {
      const client = await connect()
      const first = await tool(client, 'log_step', { step_description: 'Reading src/' })
      expect(first.isError).toBeFalsy()
      const s = first.structuredContent!
      expect(s.success).toBe(true)
      expect(s.step_number).toBe(1)
      expect(s.user_feedback).toEqual([])
      expect(JSON.parse(first.content[0]!.text)).toEqual(s)
      const id = s.agent_instance_id as string
      const type = await db.database.query<{ name: string }>(
        'select t.name from agent_instances i join agent_types t on t.id = i.agent_type_id where i.id = $1',
        [id],
      )
      expect(type[0]!.name).toBe('claude-code')
      await reply(id, 'use tabs please')
      const second = await tool(client, 'log_step', { agent_instance_id: id, step_description: 'Editing' })
      expect(second.structuredContent).toMatchObject({ step_number: 2, user_feedback: ['use tabs please'] })
      const third = await tool(client, 'log_step', { agent_instance_id: id, step_description: 'Testing' })
      expect(third.structuredContent!.user_feedback).toEqual([])
    })

    test('log_step input errors use Omnara texts', async () => {
      const client = await connect()
      const bad = await tool(client, 'log_step', { agent_instance_id: 'nope', step_description: 'x' })
      expect(bad.isError).toBe(true)
      expect(bad.content[0]!.text).toBe(
        "Error calling tool 'log_step': Invalid agent_instance_id format: must be a valid UUID, got 'nope'",
      )
      const empty = await tool(client, 'log_step', { step_description: '' })
      expect(empty.content[0]!.text).toBe("Error calling tool 'log_step': step_description is required")
    })

    test('ask_question blocks until answered, sends progress, and consumes the answer', async () => {
      const client = await connect()
      const id = (await tool(client, 'log_step', { step_description: 'plan' })).structuredContent!
        .agent_instance_id as string
      const progress: number[] = []
      const pending = client.callTool(
        { name: 'ask_question', arguments: { agent_instance_id: id, question_text: 'Deploy? [YES/NO]' } },
        undefined,
        { onprogress: (p) => progress.push(p.progress), timeout: 30_000, resetTimeoutOnProgress: true },
      )
      const questionId = await waitForQuestion(id)
      await Bun.sleep(700)
      await reply(id, 'Yes')
      const result = (await pending) as { structuredContent: Structured }
      expect(result.structuredContent).toEqual({ answer: 'Yes', question_id: questionId })
      expect(progress.length).toBeGreaterThanOrEqual(2)
      // The answer was delivered: it must not come back as feedback (Omnara's bug).
      const next = await tool(client, 'log_step', { agent_instance_id: id, step_description: 'deploying' })
      expect(next.structuredContent!.user_feedback).toEqual([])
    })

    test('a cancelled ask stops waiting; its late answer arrives with the next log_step, marked late', async () => {
      const client = await connect()
      const id = (await tool(client, 'log_step', { step_description: 'start' })).structuredContent!
        .agent_instance_id as string
      const abort = new AbortController()
      const asked = client
        .callTool(
          { name: 'ask_question', arguments: { agent_instance_id: id, question_text: 'Color?' } },
          undefined,
          {
            signal: abort.signal,
          },
        )
        .catch((e: Error) => e)
      await waitForQuestion(id)
      const listenersWhileWaiting = (parley.core.bus as unknown as { size(): number }).size()
      abort.abort()
      expect(await asked).toBeInstanceOf(Error)
      const listeners = () => (parley.core.bus as unknown as { size(): number }).size()
      await until(() => listeners() < listenersWhileWaiting, 2000, 'the cancelled ask stopped listening')
      expect(listeners()).toBeLessThan(listenersWhileWaiting)
      await reply(id, 'blue')
      const next = await tool(client, 'log_step', { agent_instance_id: id, step_description: 'continue' })
      expect(next.structuredContent!.user_feedback).toEqual(['[late answer to your question "Color?"] blue'])
    })

    // Only the Postgres bus sends a NOTIFY (8000 bytes at most); the in-memory bus has no limit.
    test.skipIf(kind !== 'postgres')(
      'a cancellation naming a request id of any length is taken: the NOTIFY it sends stays small',
      async () => {
        const res = await fetch(`${parley.url}/mcp`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${alice.key}`,
            accept: 'application/json, text/event-stream',
            'content-type': 'application/json',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            method: 'notifications/cancelled',
            params: { requestId: 'x'.repeat(10_000) },
          }),
        })
        expect(res.status).toBe(202)
      },
    )

    test('end_session completes the instance', async () => {
      const client = await connect()
      const id = (await tool(client, 'log_step', { step_description: 'work' })).structuredContent!
        .agent_instance_id as string
      const r = await tool(client, 'end_session', { agent_instance_id: id })
      expect(r.structuredContent).toEqual({ success: true, agent_instance_id: id, final_status: 'COMPLETED' })
    })

    test('approve: allow, allow for the session (no second question), deny', async () => {
      const id = crypto.randomUUID()
      const client = await connect(alice.key, { 'x-agent-instance-id': id })
      await tool(client, 'log_step', { agent_instance_id: id, step_description: 'working' })
      const answerNext = async (answer: string) => {
        const q = await waitForQuestion(id)
        await reply(id, answer)
        return q
      }
      const once = tool(client, 'approve', { tool_name: 'Bash', input: { command: 'ls -la' } })
      await answerNext('Yes')
      expect((await once).structuredContent).toEqual({
        behavior: 'allow',
        updatedInput: { command: 'ls -la' },
      })

      const session = tool(client, 'approve', { tool_name: 'Bash', input: { command: 'git status' } })
      const q = await answerNext('Yes and approve this exact command for rest of session')
      expect((await session).structuredContent!.behavior).toBe('allow')
      const text = await db.database.query<{ content: string }>(
        'select content from messages where id = $1',
        [q],
      )
      expect(text[0]!.content).toStartWith(
        'Allow execution of Bash git?\n\n**Full command:**\n```bash\ngit status\n```',
      )
      const cached = await tool(client, 'approve', { tool_name: 'Bash', input: { command: 'git status' } })
      expect(cached.structuredContent!.behavior).toBe('allow')
      // The hooks' one rule: the same program with other words is asked again.
      const push = tool(client, 'approve', { tool_name: 'Bash', input: { command: 'git push --force' } })
      await answerNext('No')
      expect((await push).structuredContent!.behavior).toBe('deny')

      const denied = tool(client, 'approve', { tool_name: 'Write', input: { file_path: '/etc/passwd' } })
      await answerNext('No')
      expect((await denied).structuredContent).toEqual({
        behavior: 'deny',
        message: 'Permission denied by user',
      })
      const other = tool(client, 'approve', { tool_name: 'Write', input: { file_path: '/tmp/x' } })
      await answerNext('only in /tmp/y')
      expect((await other).structuredContent).toEqual({
        behavior: 'deny',
        message: 'Permission denied by user: only in /tmp/y',
      })
    })
  })
}
