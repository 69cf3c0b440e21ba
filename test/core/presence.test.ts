// An agent that waits (long-poll, blocking ask, held hook) sends no heartbeat but is alive: the
// instance it waits on must not turn DISCONNECTED, on this machine or on another one.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Core } from '../../src/core/context.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { holdPresence, Presence } from '../../src/core/presence.ts'
import { type BusEvent, MemoryBus } from '../../src/events/bus.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until, uuid } from '../helpers.ts'

const AFTER_MS = 300

for (const kind of dbKinds()) {
  describe(`presence of waiting agents (${kind})`, () => {
    let db: TestDb
    let user: Awaited<ReturnType<typeof makeUser>>
    const running: Presence[] = []
    beforeAll(async () => {
      db = await freshDatabase(kind)
      user = await makeUser(db.database.db, 'presence')
    }, 60_000)
    afterAll(async () => {
      for (const p of running) p.stop()
      await db.drop()
    })

    /** A machine: its own bus (buses are per process) and its own presence tracker. */
    const machine = async (): Promise<Core & { presence: Presence }> => {
      const core: Core = { db: db.database.db, bus: new MemoryBus() }
      const presence = new Presence(core, AFTER_MS)
      core.presence = presence
      running.push(presence)
      await presence.start()
      return { ...core, presence }
    }
    const ask = async (core: Core) => {
      const instanceId = uuid()
      await postAgentMessage(core, {
        userId: user.id,
        instanceId,
        agentType: 'claude',
        content: 'Ship it?',
        requiresUserInput: true,
      })
      return instanceId
    }
    const disconnected = (core: Core, instanceId: string) =>
      new Promise<void>((resolve) => {
        const off = core.bus.subscribe('all', (e: BusEvent) => {
          if (e.type === 'instance.updated' && e.instanceId === instanceId && e.status === 'DISCONNECTED') {
            off()
            resolve()
          }
        })
      })
    const status = async (instanceId: string) =>
      (
        await db.database.query<{ status: string }>('select status from agent_instances where id = $1', [
          instanceId,
        ])
      )[0]!.status

    // First in the file: no other machine's tracker is running yet, so every query counted is this one's.
    test('instances that went silent close together are flipped by one statement', async () => {
      const core: Core = { db: db.database.db, bus: new MemoryBus() }
      // A sweep waits up to a second for more to come due: room for four asks on a loaded machine.
      const presence = new Presence(core, AFTER_MS, 1000)
      core.presence = presence
      running.push(presence)
      await presence.start()
      const silent: string[] = []
      for (let i = 0; i < 4; i++) {
        silent.push(await ask(core))
        await Bun.sleep(20)
      }
      const queries = db.database.queryCount()
      await Promise.all(silent.map((id) => disconnected(core, id)))
      expect(db.database.queryCount() - queries).toBe(1)
    }, 15_000)

    test('a held instance stays live past the limit; released, it is DISCONNECTED after it', async () => {
      const m = await machine()
      const waiting = await ask(m)
      const release = holdPresence(m, user.id, waiting)
      const idle = await ask(m)
      const gone = disconnected(m, waiting)
      // The idle one, asked after, is swept with (or after) the held one.
      await disconnected(m, idle)
      expect(await status(waiting)).toBe('AWAITING_INPUT')
      const releasedAt = Date.now()
      release()
      await gone
      expect(Date.now() - releasedAt).toBeGreaterThanOrEqual(AFTER_MS - 20)
    }, 15_000)

    test('another machine, which does not know of the wait, does not flip it either', async () => {
      const holder = await machine()
      const sweeper = await machine()
      // Written through the sweeper: it hears of both instances; the holder hears of neither.
      const waiting = await ask(sweeper)
      const release = holdPresence(holder, user.id, waiting)
      const idle = await ask(sweeper)
      await disconnected(sweeper, idle)
      expect(await status(waiting)).toBe('AWAITING_INPUT')
      // Once the wait ends it is flipped, by the holder or by the sweeper (whichever sweeps first).
      release()
      await until(async () => (await status(waiting)) === 'DISCONNECTED', 5000, 'flipped after release')
    }, 15_000)

    test('a wait on another user’s instance id keeps nothing alive', async () => {
      const m = await machine()
      const other = await makeUser(db.database.db, 'other')
      const waiting = await ask(m)
      const release = holdPresence(m, other.id, waiting)
      await disconnected(m, waiting)
      release()
    }, 15_000)

    test('two waiters on one instance: it stays held until both are gone', async () => {
      const m = await machine()
      const waiting = await ask(m)
      const first = holdPresence(m, user.id, waiting)
      const second = holdPresence(m, user.id, waiting)
      first()
      first() // releasing twice is harmless
      const idle = await ask(m)
      const gone = disconnected(m, waiting)
      await disconnected(m, idle)
      expect(await status(waiting)).toBe('AWAITING_INPUT')
      second()
      await gone
    }, 15_000)
  })
}
