// Faults, on Postgres: a Parley process is killed with SIGKILL while an agent waits on it for an
// answer. The answer is given meanwhile through another process; when the killed one is started
// again, the agent's retried long-poll (same cursor) gets it. Nothing lived only in the dead
// process: the question, the answer and the agent's read cursor are rows.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config.ts'
import { postUserMessage } from '../../src/core/messages.ts'
import { createParley, type Parley } from '../../src/parley.ts'
import { freshDatabase, hasPostgres, makeUser, type TestDb, until, uuid } from '../helpers.ts'

const cli = `${import.meta.dir}/../../src/cli.ts`

function freePort(): number {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const port = s.port!
  s.stop(true)
  return port
}

describe.skipIf(!hasPostgres())('faults: kill -9 while agents wait (postgres)', () => {
  let db: TestDb
  let other: Parley
  const children: ReturnType<typeof Bun.spawn>[] = []
  beforeAll(async () => {
    db = await freshDatabase('postgres')
    other = await createParley(loadConfig({ PORT: '0' }), { database: db.database, quiet: true })
    await other.start()
  }, 60_000)
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill(9)
    await other.stop()
    await db.drop()
  }, 30_000)

  const serve = async (port: number) => {
    const child = Bun.spawn(['bun', cli, 'serve'], {
      env: { ...process.env, DATABASE_URL: db.url!, PORT: String(port) },
      stdout: 'ignore',
      stderr: 'ignore',
    })
    children.push(child)
    await until(
      () =>
        fetch(`http://127.0.0.1:${port}/healthz`, { keepalive: false }).then(
          (r) => r.ok,
          () => false,
        ),
      20_000,
      'parley serving',
    )
    return child
  }

  test('the answer given while the process was dead reaches the agent after the restart', async () => {
    const user = await makeUser(db.database.db, 'kill9')
    const port = freePort()
    const base = `http://127.0.0.1:${port}/api/v1`
    const headers = { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' }
    const first = await serve(port)
    const agents = Array.from({ length: 5 }, () => uuid())
    const asked = await Promise.all(
      agents.map(async (id) => {
        const r = await fetch(`${base}/messages/agent`, {
          keepalive: false,
          method: 'POST',
          headers,
          body: JSON.stringify({
            agent_instance_id: id,
            agent_type: 'kill9',
            content: 'Go? [YES/NO]',
            requires_user_input: true,
          }),
        })
        expect(r.status).toBe(200)
        return ((await r.json()) as { message_id: string }).message_id
      }),
    )
    const poll = (id: string, cursor: string) =>
      fetch(`${base}/messages/pending?agent_instance_id=${id}&last_read_message_id=${cursor}&wait=30`, {
        headers,
      })
    // Every agent waits on the first process; it dies under them.
    const waits = agents.map((id, i) =>
      poll(id, asked[i]!).then(
        (r) => r.status,
        () => 'connection lost' as const,
      ),
    )
    await Bun.sleep(300)
    first.kill(9)
    await first.exited
    expect(await Promise.all(waits)).toEqual(agents.map(() => 'connection lost'))

    // Meanwhile a person answers through another process.
    for (const id of agents) {
      await postUserMessage(other.core, {
        actorUserId: user.id,
        instanceId: id,
        content: 'YES',
        channel: 'web',
        markAsRead: false,
      })
    }

    // The agents retry the same long-poll once Parley is back: each gets its answer, once.
    await serve(port)
    const got = await Promise.all(
      agents.map(async (id, i) => {
        const r = await poll(id, asked[i]!)
        expect(r.status).toBe(200)
        return ((await r.json()) as { messages: { content: string }[] }).messages.map((m) => m.content)
      }),
    )
    expect(got).toEqual(agents.map(() => ['YES']))
    const [row] = await db.database.query<{ n: number }>(
      `select count(*)::int as n from messages where user_id = $1 and sender = 'USER'`,
      [user.id],
    )
    expect(row!.n).toBe(agents.length)
  }, 60_000)
})
