// A key that dies ends the requests already held open with it, on every kind of hold: MCP
// ask_question and approve, the REST long-poll, a held hook. It dies by revocation through the
// app (the bus: at once), by revocation from the CLI (no bus of its own: its NOTIFY in SQL on
// Postgres, the held keys' recheck on PGlite) or by reaching its expiry (a few seconds after the
// request is held). None of these requests may end by its own deadline: each waits 30-60 s, the
// tests give it 20 s, and a deadline would answer 200, not a refusal.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createApiKey, revokeApiKey } from '../../src/auth/api-keys.ts'
import { dbKinds, makeUser, type TestApp, testApp, until, uuid } from '../helpers.ts'
import { fixture, nextQuestion } from './hooks-fixture.ts'

const EXPIRES_IN_MS = 4_000

type ToolResult = {
  structuredContent?: Record<string, unknown>
  content: { text: string }[]
  isError?: boolean
}

for (const kind of dbKinds()) {
  describe(`held requests end when their key dies (${kind})`, () => {
    let t: TestApp
    let base: string
    const clients: Client[] = []
    beforeAll(async () => {
      t = await testApp(kind, { mcp: { progressMs: 200 } })
      t.app.listen({ port: 0, hostname: '127.0.0.1' })
      base = `http://127.0.0.1:${t.app.server!.port}`
    }, 60_000)
    afterAll(async () => {
      for (const c of clients) await c.close().catch(() => {})
      await t.app.stop(true)
      await t.close()
    })

    async function mcpClient(key: string) {
      const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}`, 'x-client-type': 'claude-code' } },
      })
      const client = new Client({ name: 'held-keys-test', version: '1.0.0' })
      await client.connect(transport)
      clients.push(client)
      return client
    }
    const callTool = (client: Client, name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args }, undefined, {
        timeout: 60_000,
        resetTimeoutOnProgress: true,
      }) as Promise<ToolResult>
    /**
     * A key of a new user that expires a few seconds from now: long enough for its request to be
     * held first (checked by `heldBeforeExpiry`), short enough not to slow the run much.
     */
    const expiringKey = async (label: string) => {
      const user = await makeUser(t.database.db, label)
      const expiresAt = new Date(Date.now() + EXPIRES_IN_MS)
      return {
        ...(await createApiKey(t.database.db, { userId: user.id, name: label, expiresAt })),
        expiresAt,
      }
    }
    /** The request was held while its key was still valid: what ends it is the expiry itself. */
    const heldBeforeExpiry = (expiresAt: Date) => expect(Date.now()).toBeLessThan(expiresAt.getTime())
    const openQuestion = (instanceId: string) =>
      until(async () => {
        const rows = await t.database.query(
          'select 1 from messages where instance_id = $1 and requires_user_input and answered_at is null',
          [instanceId],
        )
        return rows.length > 0
      }, 10_000)

    const revocations: [string, (keyId: string) => Promise<void>][] = [
      ['through the app', (keyId) => revokeApiKey(t.database.db, t.bus, keyId)],
      ['from the CLI (no bus)', (keyId) => revokeApiKey(t.database.db, null, keyId)],
    ]
    for (const [how, revoke] of revocations) {
      test(`MCP ask_question ends with a tool error when its key is revoked ${how}`, async () => {
        const bob = await makeUser(t.database.db, 'bob')
        const client = await mcpClient(bob.key)
        const id = uuid()
        const asked = callTool(client, 'ask_question', { agent_instance_id: id, question_text: 'Deploy?' })
        await openQuestion(id)
        await revoke(bob.keyId)
        const result = await asked
        expect(result.isError).toBe(true)
        expect(result.content[0]!.text).toBe(
          "Error calling tool 'ask_question': API key was revoked or expired while the call waited",
        )
      }, 20_000)
    }

    test('MCP approve ends with a tool error, not a decision, when its key expires mid-wait', async () => {
      const { key, expiresAt } = await expiringKey('carol')
      const client = await mcpClient(key)
      const id = uuid()
      const asked = callTool(client, 'approve', {
        tool_name: 'Bash',
        input: { command: 'rm -rf build' },
        agent_instance_id: id,
      })
      await openQuestion(id)
      heldBeforeExpiry(expiresAt)
      const result = await asked
      expect(result.isError).toBe(true)
      expect(result.structuredContent?.behavior).toBeUndefined()
      expect(result.content[0]!.text).toBe(
        "Error calling tool 'approve': API key was revoked or expired while the call waited",
      )
    }, 20_000)

    test('a REST long-poll ends with 401 when its key is revoked from the CLI (no bus)', async () => {
      const dave = await makeUser(t.database.db, 'dave')
      const headers = { authorization: `Bearer ${dave.key}`, 'content-type': 'application/json' }
      const id = uuid()
      const posted = await fetch(`${base}/api/v1/messages/agent`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          agent_instance_id: id,
          agent_type: 'x',
          content: 'q',
          requires_user_input: true,
        }),
      })
      const q = (await posted.json()) as { message_id: string }
      const listening = t.bus.size()
      const polled = fetch(
        `${base}/api/v1/messages/pending?agent_instance_id=${id}&last_read_message_id=${q.message_id}&wait=30`,
        { headers },
      )
      await until(() => t.bus.size() > listening, 10_000, 'long-poll parked')
      await revokeApiKey(t.database.db, null, dave.keyId)
      const res = await polled
      expect(res.status).toBe(401)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED')
    }, 20_000)

    test('a held hook ends with 401 when its key expires mid-wait', async () => {
      const { key, expiresAt } = await expiringKey('erin')
      const sessionId = uuid()
      const asked = nextQuestion(t.bus, sessionId)
      const held = fetch(`${base}/hooks/claude-code?timeout=60`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...fixture('claude-code', 'permission-request-bash'), session_id: sessionId }),
      })
      await asked
      heldBeforeExpiry(expiresAt)
      const res = await held
      expect(res.status).toBe(401)
    }, 20_000)
  })
}
