// Long-polls over real HTTP: held past Bun's idle timeout, woken by the event bus (also from a
// second server sharing the same Postgres), answered with a retryable 503 on graceful stop, and
// a sign of life for presence while parked.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { revokeApiKey } from '../../src/auth/api-keys.ts'
import { loadConfig } from '../../src/config.ts'
import { connectPostgres } from '../../src/db/client.ts'
import { type Parley, startParley } from '../../src/main.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until, uuid } from '../helpers.ts'

/** Bun's idle timeout of the test servers: short, so outliving it takes a few seconds. */
const IDLE_TIMEOUT_S = 1
/** Bun checks idle connections in 4 s ticks: with a 1 s timeout a silent one closes 4-8 s in. */
const SURELY_IDLE_MS = 9000

const start = (db: TestDb['database'], opts: { disconnectAfterMs?: number } = {}) =>
  startParley(loadConfig({ PORT: '0' }), {
    database: db,
    quiet: true,
    idleTimeoutSeconds: IDLE_TIMEOUT_S,
    ...opts,
  })

function client(base: string, key: string) {
  const h = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  return {
    agent: (body: object) =>
      fetch(`${base}/api/v1/messages/agent`, { method: 'POST', headers: h, body: JSON.stringify(body) }).then(
        (r) => r.json(),
      ),
    reply: (id: string, content: string) =>
      fetch(`${base}/api/v1/messages/user`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ agent_instance_id: id, content, mark_as_read: false }),
      }),
    poll: (id: string, cursor: string, wait: number) =>
      fetch(
        `${base}/api/v1/messages/pending?agent_instance_id=${id}&last_read_message_id=${cursor}&wait=${wait}`,
        {
          headers: h,
        },
      ),
  }
}

for (const kind of dbKinds()) {
  describe(`long-poll (${kind})`, () => {
    let db: TestDb
    let parley: Parley
    let alice: Awaited<ReturnType<typeof makeUser>>

    beforeAll(async () => {
      db = await freshDatabase(kind)
      parley = await start(db.database)
      alice = await makeUser(db.database.db, 'alice')
    }, 60_000)
    afterAll(async () => {
      await parley.stop()
      await db.drop()
    })
    const status = async (id: string) =>
      (
        await db.database.query<{ status: string }>('select status from agent_instances where id = $1', [id])
      )[0]?.status

    // Bun's idle timeout is the same whichever database is behind it: run once, not per database.
    const onFirstDatabase = kind === dbKinds()[0] ? test : test.skip
    onFirstDatabase(
      'a long-poll survives past the idle timeout and returns the reply when it comes',
      async () => {
        const c = client(parley.url, alice.key)
        const id = uuid()
        const q = await c.agent({
          agent_instance_id: id,
          agent_type: 'x',
          content: 'wait for me',
          requires_user_input: true,
        })
        const polled = c.poll(id, q.message_id, 30)
        // Silence longer than the idle timeout, which would close an ordinary request's connection.
        await Bun.sleep(SURELY_IDLE_MS)
        const sent = performance.now()
        await c.reply(id, 'here I am')
        const res = await polled
        const tookMs = performance.now() - sent
        expect(res.status).toBe(200)
        const body = await res.json()
        expect(body.status).toBe('ok')
        expect(body.messages.map((m: { content: string }) => m.content)).toEqual(['here I am'])
        // Woken by the reply, not by the 30 s deadline.
        expect(tookMs).toBeLessThan(5_000)
      },
      30_000,
    )

    test('a key revoked while its long-poll waits ends the wait at once with 401', async () => {
      const bob = await makeUser(db.database.db, 'bob')
      const c = client(parley.url, bob.key)
      const id = uuid()
      const q = await c.agent({
        agent_instance_id: id,
        agent_type: 'x',
        content: 'q',
        requires_user_input: true,
      })
      const listening = parley.core.bus.size()
      const polled = c.poll(id, q.message_id, 30)
      // Parked (it listens on the bus for a reply) before the key is revoked: a request that
      // arrived afterwards would be refused at the door, which proves nothing.
      await until(() => parley.core.bus.size() > listening, 5000, 'long-poll parked')
      const revokedAt = performance.now()
      await revokeApiKey(db.database.db, parley.core.bus, bob.keyId)
      const res = await polled
      expect(res.status).toBe(401)
      expect((await res.json()).error.code).toBe('UNAUTHORIZED')
      // Ended by the revocation, not by the 30 s deadline.
      expect(performance.now() - revokedAt).toBeLessThan(5_000)
    }, 30_000)

    test('a long-poll with nothing to return ends at its deadline with an empty ok', async () => {
      const c = client(parley.url, alice.key)
      const id = uuid()
      const q = await c.agent({
        agent_instance_id: id,
        agent_type: 'x',
        content: 'q',
        requires_user_input: true,
      })
      const res = await c.poll(id, q.message_id, 1)
      expect(await res.json()).toEqual({ agent_instance_id: id, messages: [], status: 'ok' })
    })

    test('graceful stop answers waiting long-polls and MCP asks with retryable errors; the answer survives', async () => {
      const own = await start(db.database)
      const c = client(own.url, alice.key)
      const id = uuid()
      const q = await c.agent({
        agent_instance_id: id,
        agent_type: 'x',
        content: 'q',
        requires_user_input: true,
      })
      const polled = c.poll(id, q.message_id, 30)

      const transport = new StreamableHTTPClientTransport(new URL(`${own.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${alice.key}` } },
      })
      const mcp = new Client({ name: 'stop-test', version: '1' })
      await mcp.connect(transport)
      const mcpId = uuid()
      await mcp.callTool({ name: 'log_step', arguments: { agent_instance_id: mcpId, step_description: 's' } })
      const asked = mcp.callTool({
        name: 'ask_question',
        arguments: { agent_instance_id: mcpId, question_text: 'ok?' },
      })
      // The ask is waiting once its question is posted; the long-poll, started first, is parked.
      await until(async () => (await status(mcpId)) === 'AWAITING_INPUT', 5000, 'the MCP question')

      await own.stop()
      const res = await polled
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('1')
      expect((await res.json()).error.code).toBe('UNAVAILABLE')
      const askResult = (await asked) as { isError?: boolean; content: { text: string }[] }
      expect(askResult.isError).toBe(true)
      expect(askResult.content[0]!.text).toContain('restarting')
      await mcp.close().catch(() => {})

      // Answers given while the agent was away are delivered when it comes back.
      const other = client(parley.url, alice.key)
      await other.reply(id, 'answer after restart')
      await other.reply(mcpId, 'mcp answer after restart')
      const again = await (await other.poll(id, q.message_id, 5)).json()
      expect(again.messages.map((m: { content: string }) => m.content)).toEqual(['answer after restart'])
      const step = (await other.agent({ agent_instance_id: mcpId, content: 'back' })) as {
        queued_user_messages: { content: string }[]
      }
      expect(step.queued_user_messages.map((m) => m.content)).toEqual(['mcp answer after restart'])
    }, 30_000)

    test('a parked long-poll and a blocking ask are signs of life: their instances stay "Needs input"', async () => {
      // Holds write their heartbeat every third of the limit: at 500 ms, a stall of a few hundred
      // ms on a loaded machine let a sweep find a held instance stale.
      const own = await start(db.database, { disconnectAfterMs: 1500 })
      const transport = new StreamableHTTPClientTransport(new URL(`${own.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${alice.key}` } },
      })
      const mcp = new Client({ name: 'presence-test', version: '1' })
      try {
        const c = client(own.url, alice.key)
        const flipped = new Set<string>()
        own.bus.subscribe('all', (e) => {
          if (e.type === 'instance.updated' && e.status === 'DISCONNECTED') flipped.add(e.instanceId)
        })
        const disconnected = (id: string) => until(() => flipped.has(id), 5000, `${id} DISCONNECTED`)
        const question = (id: string) =>
          c.agent({ agent_instance_id: id, agent_type: 'x', content: 'q', requires_user_input: true })

        const polling = uuid()
        const q = await question(polling)
        const polled = c.poll(polling, q.message_id, 30)
        await mcp.connect(transport)
        const asking = uuid()
        const asked = mcp.callTool(
          { name: 'ask_question', arguments: { agent_instance_id: asking, question_text: 'ok?' } },
          undefined,
          { timeout: 30_000 },
        )
        await until(async () => (await status(asking)) === 'AWAITING_INPUT', 5000, 'the MCP question')
        // An agent that only waits, asked last: when it is DISCONNECTED, the others were due too.
        await question(uuid()).then((r) => disconnected(r.agent_instance_id))
        expect(await status(polling)).toBe('AWAITING_INPUT')
        expect(await status(asking)).toBe('AWAITING_INPUT')

        await c.reply(polling, 'go')
        await c.reply(asking, 'yes')
        expect((await (await polled).json()).messages).toHaveLength(1)
        expect(((await asked) as { isError?: boolean }).isError).toBeFalsy()
        // Once nothing waits, the usual limit applies again.
        await disconnected(polling)
        await disconnected(asking)
      } finally {
        await mcp.close().catch(() => {})
        await own.stop()
      }
    }, 30_000)

    // A second server shares the database (and its bus) only on Postgres.
    test.skipIf(kind !== 'postgres')(
      'a reply posted on a second server sharing the database wakes a long-poll on the first',
      async () => {
        const secondDb = connectPostgres(db.url!)
        const second = await start(secondDb)
        try {
          const a = client(parley.url, alice.key)
          const b = client(second.url, alice.key)
          const id = uuid()
          const q = await a.agent({
            agent_instance_id: id,
            agent_type: 'x',
            content: 'q',
            requires_user_input: true,
          })
          const polled = a.poll(id, q.message_id, 30)
          await Bun.sleep(200)
          const sent = performance.now()
          await b.reply(id, 'from machine B')
          const body = await (await polled).json()
          expect(body.messages.map((m: { content: string }) => m.content)).toEqual(['from machine B'])
          expect(performance.now() - sent).toBeLessThan(5_000)
        } finally {
          await second.stop()
          await secondDb.close()
        }
      },
    )
  })
}
