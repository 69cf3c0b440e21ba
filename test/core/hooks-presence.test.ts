// A held hook request is the agent's sign of life: while Parley holds its approval open, the
// instance is not marked DISCONNECTED, though no heartbeat comes; an idle session beside it is.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { answerQuestion } from '../../src/core/answers.ts'
import type { Core } from '../../src/core/context.ts'
import { handleHook } from '../../src/core/hooks/handle.ts'
import { Presence } from '../../src/core/presence.ts'
import { MemoryBus, nextEvent } from '../../src/events/bus.ts'
import { fixture } from '../agents/hooks-fixture.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb } from '../helpers.ts'

// Short, so the test is quick; long enough that a loaded machine (2 cores, test files side by side)
// does not starve the refresh timer past it.
const AFTER_MS = 1500

for (const kind of dbKinds()) {
  describe(`held hooks keep their session live (${kind})`, () => {
    let db: TestDb
    let core: Core
    let presence: Presence
    let user: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      db = await freshDatabase(kind)
      core = { db: db.database.db, bus: new MemoryBus() }
      presence = new Presence(core, AFTER_MS)
      core.presence = presence
      await presence.start()
      user = await makeUser(db.database.db, 'presence')
    }, 60_000)
    afterAll(async () => {
      presence.stop()
      await db.drop()
    })

    const hook = (name: string, sessionId: string, signal = new AbortController().signal) =>
      handleHook(core, {
        userId: user.id,
        agent: 'claude_code',
        body: { ...fixture('claude-code', name), session_id: sessionId },
        hold: { deadline: Date.now() + 60_000, signal },
      })
    const status = async (id: string) =>
      (
        await db.database.query<{ status: string }>('select status from agent_instances where id = $1', [id])
      )[0]!.status

    test('an approval held past the disconnect limit stays AWAITING_INPUT', async () => {
      const held = crypto.randomUUID()
      const idle = crypto.randomUUID()
      const asked = nextEvent(
        core.bus,
        { instanceId: held },
        (e) => e.type === 'message.created',
        5000,
      ).promise
      const pending = hook('permission-request-bash', held)
      const question = await asked
      const idleGone = nextEvent(
        core.bus,
        { instanceId: idle },
        (e) => e.type === 'instance.updated' && e.status === 'DISCONNECTED',
        5000,
      ).promise
      await hook('stop', idle)
      expect(await idleGone).not.toBeNull()
      expect(await status(held)).toBe('AWAITING_INPUT')
      if (question?.type !== 'message.created') throw new Error('no question')
      await answerQuestion(core, {
        actorUserId: user.id,
        questionId: question.messageId,
        answer: { option: 0 },
        channel: 'web',
      })
      expect(await pending).toEqual({
        hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } },
      })
    })
  })
}
