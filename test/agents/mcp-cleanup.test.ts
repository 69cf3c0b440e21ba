// MCP builds a server and a transport per request: both must be closed when the response ends,
// and the bus listener for cancellations must go with the last call, or every request leaks.
import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { Elysia } from 'elysia'
import { agentMcp } from '../../src/agents/mcp.ts'
import { KeyVerifier } from '../../src/auth/api-keys.ts'
import { MemoryBus } from '../../src/events/bus.ts'
import { httpErrors } from '../../src/http/errors.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`MCP per-request cleanup (${kind})`, () => {
    let db: TestDb
    let url: string
    let alice: Awaited<ReturnType<typeof makeUser>>
    // The bus MCP uses, apart from the one the key verifier listens on: its size is MCP's alone.
    const bus = new MemoryBus()
    const keysBus = new MemoryBus()
    const stopping = new AbortController()
    let server: { stop(force: boolean): unknown } | undefined
    let keys: KeyVerifier
    // Spied per describe (in beforeAll): a spy made while collecting would be undone by the
    // first describe's afterAll.
    let connects: ReturnType<typeof spyOn<McpServer, 'connect'>>
    let closes: ReturnType<typeof spyOn<McpServer, 'close'>>

    beforeAll(async () => {
      connects = spyOn(McpServer.prototype, 'connect')
      closes = spyOn(McpServer.prototype, 'close')
      db = await freshDatabase(kind)
      keys = new KeyVerifier(db.database.db, keysBus)
      const app = new Elysia()
        .use(httpErrors)
        .use(agentMcp({ core: { db: db.database.db, bus }, keys, stopping: stopping.signal }))
      app.listen({ port: 0 })
      server = app.server!
      url = `http://localhost:${app.server!.port}/mcp`
      alice = await makeUser(db.database.db, 'alice')
    }, 60_000)
    afterAll(async () => {
      stopping.abort()
      await server?.stop(true)
      await keys.close()
      await db.drop()
      connects.mockRestore()
      closes.mockRestore()
    })

    const connect = async () => {
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${alice.key}` } },
      })
      const client = new Client({ name: 'parley-test', version: '1.0.0' })
      await client.connect(transport)
      return client
    }
    const allClosed = () => closes.mock.calls.length === connects.mock.calls.length

    test('no bus listener while no call is in flight', () => {
      expect(bus.size()).toBe(0)
    })

    test('after N requests every server is closed and no bus listener is left', async () => {
      const client = await connect()
      const instance = crypto.randomUUID()
      for (let i = 0; i < 5; i++) {
        await client.callTool({
          name: 'log_step',
          arguments: { agent_instance_id: instance, step_description: `step ${i}` },
        })
      }
      await client.close()
      expect(connects.mock.calls.length).toBeGreaterThanOrEqual(7)
      await until(allClosed, 5000, 'every per-request MCP server closed')
      expect(bus.size()).toBe(0)
    })

    test('an aborted ask_question lets go of its server and its listeners', async () => {
      const client = await connect()
      const abort = new AbortController()
      const asked = client
        .callTool(
          {
            name: 'ask_question',
            arguments: { agent_instance_id: crypto.randomUUID(), question_text: 'Ship it?' },
          },
          undefined,
          { signal: abort.signal, timeout: 60_000 },
        )
        .catch((err: Error) => err)
      await until(() => bus.size() > 0, 5000, 'the ask is waiting')
      abort.abort()
      expect(await asked).toBeInstanceOf(Error)
      await until(() => bus.size() === 0, 5000, 'bus listeners released')
      await until(allClosed, 5000, 'every per-request MCP server closed')
      await client.close()
    })
  })
}
