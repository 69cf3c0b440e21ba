// Replies must never land behind the agent's read cursor, or the agent never sees them. Ids are
// time-ordered and the cursor moves to each agent message, so a reply's id is made under the
// instance lock, after whatever took the lock before it, and after the cursor whatever the clock.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { newMessageIdAfter } from '../../src/core/context.ts'
import { postAgentMessage, postUserMessage } from '../../src/core/messages.ts'
import { getPending } from '../../src/core/pending.ts'
import { hasPostgres, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'

describe('newMessageIdAfter', () => {
  test('is after the previous id even when that id comes from a clock 5 s ahead', () => {
    const ahead = Bun.randomUUIDv7('hex', Date.now() + 5000)
    const id = newMessageIdAfter(ahead)
    expect(id > ahead).toBe(true)
    expect(newMessageIdAfter(null) > ahead).toBe(false)
  })
})

// Holding the row lock from a second connection needs a server: PGlite has one connection.
describe.skipIf(!hasPostgres())('message order under concurrency (postgres)', () => {
  const kind = 'postgres' as const
  let t: TestApp
  let alice: Awaited<ReturnType<typeof makeUser>>
  beforeAll(async () => {
    t = await testApp(kind)
    alice = await makeUser(t.database.db, 'alice')
  }, 60_000)
  afterAll(() => t.close())

  test('a reply that waited for an agent message holding the lock still reaches the agent', async () => {
    const instanceId = uuid()
    await postAgentMessage(t.core, {
      userId: alice.id,
      instanceId,
      agentType: 'x',
      content: 'working',
      requiresUserInput: false,
    })
    let reply: ReturnType<typeof postUserMessage> | null = null
    let agentMessageId = ''
    // Another connection holds the instance row, as an agent message in flight does, while
    // the reply arrives; then it commits an agent message that moves the cursor.
    await t.database.sql!.begin(async (tx) => {
      await tx`select 1 from agent_instances where id = ${instanceId} for update`
      reply = postUserMessage(t.core, {
        actorUserId: alice.id,
        instanceId,
        content: 'please also update the docs',
        markAsRead: false,
        channel: 'web',
      })
      await Bun.sleep(150)
      agentMessageId = Bun.randomUUIDv7()
      await tx`insert into messages (id, instance_id, user_id, sender, content)
        values (${agentMessageId}, ${instanceId}, ${alice.id}, 'AGENT', 'step 2')`
      await tx`update agent_instances set last_read_message_id = ${agentMessageId} where id = ${instanceId}`
    })
    await reply!
    const pending = await getPending(t.core, { userId: alice.id, instanceId, lastRead: agentMessageId })
    expect(pending.status).toBe('ok')
    expect(pending.messages.map((m) => m.content)).toEqual(['please also update the docs'])
  })
})
