// Two machines sharing one database: the machine holding an agent's socket is recorded, a viewer
// reaching the other machine is answered with fly-replay (no upgrade) unless the request is
// already a replay, and the record goes when the socket closes.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createWebSession } from '../../src/auth/web-sessions.ts'
import { loadConfig } from '../../src/config.ts'
import { holdRelay, openRelaySession, relayHolder } from '../../src/core/relay-sessions.ts'
import { type Parley, startParley } from '../../src/main.ts'
import { RELAY_CLOSE } from '../../src/relay/close-codes.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until, uuid } from '../helpers.ts'
import { closedWith, handshake, peer } from './helpers.ts'

test('FLY_MACHINE_ID goes into a response header elsewhere: letters and digits only', () => {
  expect(loadConfig({ FLY_MACHINE_ID: '148e1dfb2d5389' }).machineId).toBe('148e1dfb2d5389')
  expect(loadConfig({}).machineId).toBeNull()
  expect(() => loadConfig({ FLY_MACHINE_ID: 'm1\r\nset-cookie: x' })).toThrow('FLY_MACHINE_ID')
})

for (const kind of dbKinds()) {
  describe(`relay across machines (${kind})`, () => {
    let db: TestDb
    let one: Parley
    let two: Parley
    let key: string
    let userId: string
    let cookie: string
    beforeAll(async () => {
      db = await freshDatabase(kind)
      const machine = (id: string) =>
        startParley(loadConfig({ PORT: '0', FLY_MACHINE_ID: id }), { database: db.database, quiet: true })
      one = await machine('m0001')
      two = await machine('m0002')
      const user = await makeUser(db.database.db, 'fly')
      key = user.key
      userId = user.id
      cookie = `parley_session=${(await createWebSession(db.database.db, user.id)).token}`
    }, 30_000)
    afterAll(async () => {
      await one?.stop()
      await two?.stop()
      await db?.drop()
    })

    const ws = (p: Parley) => `ws://127.0.0.1:${p.port}`
    /** Opens a viewer socket (it fails the test if refused) and closes it again. */
    const upgrades = async (url: string, headers: Record<string, string>) => {
      const viewer = peer(url, { headers })
      await viewer.opened
      viewer.socket.close()
    }

    test('a viewer on the other machine is replayed to the holder; on the holder it upgrades', async () => {
      const id = uuid()
      const agent = peer(`${ws(one)}/relay/agent?session_id=${id}`, {
        headers: { authorization: `Bearer ${key}` },
      })
      await agent.opened
      await until(async () => (await relayHolder(one.core, id)) === 'm0001', 5000, 'holder recorded')

      const there = await handshake(`${ws(two)}/relay/view/${id}`, { cookie })
      expect(there.status).toBe(503)
      expect(there.headers.get('fly-replay')).toBe('instance=m0001')

      await upgrades(`${ws(two)}/relay/view/${id}`, { cookie, 'fly-replay-src': 'instance=m0002' })
      await upgrades(`${ws(one)}/relay/view/${id}`, { cookie })

      agent.socket.close()
      await until(async () => (await relayHolder(one.core, id)) === null, 5000, 'holder cleared')
      await upgrades(`${ws(two)}/relay/view/${id}`, { cookie })
    })

    // Machines hear of each other through Postgres LISTEN/NOTIFY; PGlite has one process's bus only.
    test.skipIf(kind === 'pglite')(
      'a viewer on a machine without the agent is closed GOING_AWAY when the agent comes back elsewhere',
      async () => {
        const id = uuid()
        await openRelaySession(one.core, userId, id)
        // No agent anywhere: the viewer stays on the machine it reached.
        const viewer = peer(`${ws(two)}/relay/view/${id}`, { headers: { cookie } })
        await viewer.opened
        const agent = peer(`${ws(one)}/relay/agent?session_id=${id}`, {
          headers: { authorization: `Bearer ${key}` },
        })
        await agent.opened
        expect(await closedWith(viewer)).toBe(RELAY_CLOSE.GOING_AWAY)
        // Its reconnect is replayed to the holder.
        const again = await handshake(`${ws(two)}/relay/view/${id}`, { cookie })
        expect(again.headers.get('fly-replay')).toBe('instance=m0001')
        agent.socket.close()
      },
    )

    test('a machine that starts again forgets the sockets it held before', async () => {
      const id = uuid()
      await openRelaySession(one.core, userId, id)
      await holdRelay(one.core, { userId, instanceId: id, machineId: 'm0003' })
      const again = await startParley(loadConfig({ PORT: '0', FLY_MACHINE_ID: 'm0003' }), {
        database: db.database,
        quiet: true,
      })
      await again.stop()
      expect(await relayHolder(one.core, id)).toBeNull()
    })
  })
}
