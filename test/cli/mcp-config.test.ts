// `parley mcp-config` gives both ways to attach Claude Code over MCP, and the MCP server tells a
// connecting agent when to use each of its tools.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { loadConfig } from '../../src/config.ts'
import { type Parley, startParley } from '../../src/main.ts'
import { freshDatabase, makeUser, type TestDb } from '../helpers.ts'
import { runCli } from './run-cli.ts'

describe('parley mcp-config and the MCP instructions', () => {
  let db: TestDb
  let parley: Parley

  beforeAll(async () => {
    db = await freshDatabase('pglite')
    parley = await startParley(loadConfig({ PORT: '0' }), { database: db.database, quiet: true })
  }, 60_000)
  afterAll(async () => {
    await parley.stop()
    await db.drop()
  })

  test('prints the claude mcp add line and the -p form with the permission prompt tool', async () => {
    const r = await runCli(['mcp-config'], {
      env: { PARLEY_URL: 'https://parley.example.com', PARLEY_API_KEY: 'prl_k' },
    })
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toEqual([
      'claude mcp add --transport http parley https://parley.example.com/mcp --header "Authorization: Bearer prl_k"',
      'claude -p "<your task>" --permission-prompt-tool mcp__parley__approve',
    ])
  })

  test('the MCP server says when to log a step, ask a question and end', async () => {
    const user = await makeUser(db.database.db, 'mcp')
    const client = new Client({ name: 'parley-test', version: '1.0.0' })
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${parley.port}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${user.key}` } },
      }),
    )
    const instructions = client.getInstructions() ?? ''
    await client.close()
    for (const tool of ['log_step', 'ask_question', 'end_session', 'mcp__parley__approve'])
      expect(instructions).toContain(tool)
  })
})
