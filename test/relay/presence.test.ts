// An open agent socket is the terminal's sign of life: past the disconnect limit, without a
// heartbeat, its instance stays ACTIVE while one whose socket closed goes DISCONNECTED.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { nextEvent } from '../../src/events/bus.ts'
import { dbKinds, until, uuid } from '../helpers.ts'
import { peer, relayServer } from './helpers.ts'

const AFTER_MS = 300

for (const kind of dbKinds()) {
  describe(`relay presence (${kind})`, () => {
    let server: Awaited<ReturnType<typeof relayServer>>
    let owner: Awaited<ReturnType<typeof server.user>>
    beforeAll(async () => {
      server = await relayServer(kind, {}, { disconnectAfterMs: AFTER_MS })
      owner = await server.user('presence')
    }, 30_000)
    afterAll(() => server?.close())

    const agentOf = async (id: string) => {
      const p = peer(`${server.ws}/relay/agent?session_id=${id}`, {
        headers: { authorization: `Bearer ${owner.key}` },
      })
      await p.opened
      return p
    }
    const status = async (id: string) =>
      (
        await server.db.query<{ status: string }>('select status from agent_instances where id = $1', [id])
      )[0]!.status
    const disconnected = (id: string) =>
      nextEvent(
        server.parley.bus,
        { instanceId: id },
        (e) => e.type === 'instance.updated' && e.status === 'DISCONNECTED',
        10_000,
      ).promise

    test('the open socket keeps its instance ACTIVE; a closed one lets it go DISCONNECTED', async () => {
      const open = uuid()
      const closed = uuid()
      const held = await agentOf(open)
      const gone = await agentOf(closed)
      const closedGone = disconnected(closed)
      gone.socket.close()
      expect(await closedGone).not.toBeNull()
      expect(await status(open)).toBe('ACTIVE')

      const openGone = disconnected(open)
      held.socket.close()
      expect(await openGone).not.toBeNull()
      await until(async () => (await status(open)) === 'DISCONNECTED', 5000, 'DISCONNECTED')
    })
  })
}
