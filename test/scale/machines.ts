// Parley as separate machines: real `bun src/main.ts` processes on one Postgres, as Fly runs them.
// Each one's JSON log is read line by line; its URL comes from its "listening" line.
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Database } from '../../src/db/client.ts'
import { fixture } from '../agents/hooks-fixture.ts'
import { until } from '../helpers.ts'

const ROOT = join(import.meta.dir, '..', '..')

export type Machine = Awaited<ReturnType<typeof startMachine>>

/** Starts `bun src/main.ts` on `databaseUrl`; resolves once it listens. */
export async function startMachine(databaseUrl: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn(['bun', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, DATABASE_URL: databaseUrl, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const lines: Record<string, unknown>[] = []
  let listening: (url: string) => void = () => {}
  const url = new Promise<string>((resolve) => {
    listening = resolve
  })
  const read = (async () => {
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true })
      let nl = buffered.indexOf('\n')
      while (nl >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf('\n')
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>
          lines.push(parsed)
          const m = /listening on http:\/\/localhost:(\d+)/.exec(String(parsed.msg ?? ''))
          if (m) listening(`http://127.0.0.1:${m[1]}`)
        } catch {
          lines.push({ msg: line })
        }
      }
    }
  })()
  const exited = proc.exited.then(async (code) => {
    await read
    return code
  })
  const base = await Promise.race([
    url,
    exited.then((code) => {
      throw new Error(`parley exited (${code}) before listening: ${JSON.stringify(lines.slice(-5))}`)
    }),
  ])
  return {
    url: base,
    pid: proc.pid,
    lines,
    exited,
    /** Log lines whose message contains `text`. */
    logged: (text: string) => lines.filter((l) => String(l.msg ?? '').includes(text)),
    signal: (sig: 'SIGTERM' | 'SIGKILL') => proc.kill(sig),
    /** Stops it (SIGTERM) if it still runs, and waits for it. */
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      return exited
    },
  }
}

/** An agent talking to one machine: REST questions and long-polls, replies, a held hook, MCP. */
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

/**
 * Three agents waiting on one machine, each its own way: a REST long-poll behind its question,
 * an MCP ask_question, a held hook approval. Resolves once all three wait.
 */
export async function threeWaitingAgents(db: Database, on: ReturnType<typeof agentClient>) {
  const restId = crypto.randomUUID()
  const q = await on.ask(restId, 'ship it?')
  const cursor: string = q.body.message_id
  const polled = on.poll(restId, cursor)
  const mcpId = crypto.randomUUID()
  const mcp = await on.mcp()
  const asked = mcp.callTool({
    name: 'ask_question',
    arguments: { agent_instance_id: mcpId, agent_type: 'x', question_text: 'which branch?' },
  }) as Promise<{ isError?: boolean; content: { text: string }[] }>
  const hookId = crypto.randomUUID()
  const held = on.hook(hookId)
  await Promise.all([questionOpen(db, mcpId), questionOpen(db, hookId)])
  return { restId, cursor, polled, mcpId, mcp, asked, hookId, held }
}

/** The answers people give the three: each test checks its agent receives its own. */
export const ANSWERS = { rest: 'yes, ship it', mcp: 'main', hook: 'not now' }

export async function answerThree(
  on: ReturnType<typeof agentClient>,
  w: { restId: string; mcpId: string; hookId: string },
): Promise<void> {
  await on.reply(w.restId, ANSWERS.rest)
  await on.reply(w.mcpId, ANSWERS.mcp)
  await on.reply(w.hookId, ANSWERS.hook)
}
