// The relay over real sockets: an agent's terminal output reaches every viewer (late ones through
// the replay), input goes back from people who may type and is refused for READ shares, a slow
// viewer is cut off alone, strangers and bad frames are refused, a newer agent socket replaces
// the older one, and revoking the key ends the agent's socket.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApiKey, revokeApiKey } from '../../src/auth/api-keys.ts'
import { deleteInstance, shareInstance } from '../../src/core/instance-admin.ts'
import { endSession } from '../../src/core/instances.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { viewInstance } from '../../src/core/thread.ts'
import { processRegistry } from '../../src/metrics.ts'
import { RELAY_CLOSE } from '../../src/relay/close-codes.ts'
import { FrameType, RELAY_PROTOCOL } from '../../src/relay/frames.ts'
import { dbKinds, until, uuid } from '../helpers.ts'
import {
  closedWith,
  handshake,
  input,
  output,
  type Peer,
  peer,
  rawHandshake,
  relayServer,
  stalledViewer,
} from './helpers.ts'

for (const kind of dbKinds()) {
  describe(`relay (${kind})`, () => {
    let server: Awaited<ReturnType<typeof relayServer>>
    let owner: Awaited<ReturnType<typeof server.user>>
    let stranger: Awaited<ReturnType<typeof server.user>>
    const open: Peer[] = []
    beforeAll(async () => {
      server = await relayServer(kind, { viewerBufferBytes: 256 * 1024, pingMs: 100 })
      owner = await server.user('owner')
      stranger = await server.user('stranger')
    }, 30_000)
    afterAll(async () => {
      for (const p of open) p.socket.close()
      await server?.close()
    })

    const agentOf = async (id: string, key = owner.key) => {
      const p = peer(`${server.ws}/relay/agent?session_id=${id}`, {
        headers: { authorization: `Bearer ${key}` },
      })
      open.push(p)
      await p.opened
      return p
    }
    const viewerOf = async (id: string, cookie = owner.cookie) => {
      const p = peer(`${server.ws}/relay/view/${id}`, { headers: { cookie } })
      open.push(p)
      await p.opened
      return p
    }

    test('output reaches two viewers; a late viewer gets the replay and the size; session_ended when the agent leaves', async () => {
      const id = uuid()
      const agent = await agentOf(id)
      const [a, b] = await Promise.all([viewerOf(id), viewerOf(id)])
      await until(() => a.events.length > 0 && b.events.length > 0, 5000, 'viewers joined')
      agent.send({ type: FrameType.RESIZE, rows: 30, cols: 100 })
      agent.send(output('hello '))
      agent.send(output('world'))
      await until(() => a.text() === 'hello world' && b.text() === 'hello world', 5000, 'live output')

      const late = await viewerOf(id)
      await until(() => late.text() === 'hello world', 5000, 'replay')
      expect(late.frames[0]).toEqual({ type: FrameType.RESIZE, rows: 30, cols: 100 })
      expect(late.events).toEqual([{ event: 'agent_connected' }])

      agent.socket.close()
      await until(() => late.events.some((e) => e.event === 'session_ended'), 5000, 'session_ended')
      expect(late.closed).toBeNull()
    })

    test('the replay keeps the last 1 MiB of output', async () => {
      const id = uuid()
      const agent = await agentOf(id)
      const first = await viewerOf(id)
      const chunk = 'x'.repeat(512 * 1024 - 1)
      for (const c of ['a', 'b', 'c']) agent.send(output(c + chunk))
      await until(() => first.text().length === 3 * 512 * 1024, 5000, 'all output')
      const probe = await viewerOf(id)
      await until(() => probe.text().length >= 1024 * 1024, 5000, 'replay')
      const seen = probe.text()
      expect(seen.length).toBe(1024 * 1024)
      expect(seen.startsWith('b')).toBe(true)
      expect(seen.includes('a')).toBe(false)
    })

    test('typing from the owner and a WRITE share reaches the agent; a READ share is refused, not dropped', async () => {
      const id = uuid()
      const agent = await agentOf(id)
      const writer = await server.user('writer')
      const reader = await server.user('reader')
      const core = server.parley.core
      await shareInstance(core, owner.id, id, { email: writer.email, access: 'WRITE' })
      await shareInstance(core, owner.id, id, { email: reader.email, access: 'READ' })
      const [mine, theirs, readOnly] = await Promise.all([
        viewerOf(id),
        viewerOf(id, writer.cookie),
        viewerOf(id, reader.cookie),
      ])
      mine.send(input('ls\r'))
      await until(() => agent.text() === 'ls\r', 5000, 'owner input')
      theirs.send(input('pwd\r'))
      await until(() => agent.text() === 'ls\rpwd\r', 5000, 'WRITE input')
      readOnly.send(input('rm -rf /\r'))
      await until(() => readOnly.events.some((e) => e.event === 'error'), 5000, 'READ refusal')
      expect(readOnly.events.find((e) => e.event === 'error')).toMatchObject({ code: 'READ_ONLY' })
      // The refusal and the next input travel in order: nothing of the READ viewer's got through.
      mine.send(input('!'))
      await until(() => agent.text().endsWith('!'), 5000, 'later input')
      expect(agent.text()).toBe('ls\rpwd\r!')
      // A viewer's resize goes to the agent too.
      mine.send({ type: FrameType.RESIZE, rows: 40, cols: 120 })
      await until(() => agent.frames.some((f) => f.type === FrameType.RESIZE), 5000, 'resize')
      expect(agent.frames.find((f) => f.type === FrameType.RESIZE)).toEqual({
        type: FrameType.RESIZE,
        rows: 40,
        cols: 120,
      })
    })

    test('a viewer whose share changes is closed GOING_AWAY and let back in with its new access; deleting shuts it out', async () => {
      const id = uuid()
      const agent = await agentOf(id)
      const writer = await server.user('demoted')
      const core = server.parley.core
      await shareInstance(core, owner.id, id, { email: writer.email, access: 'WRITE' })
      const before = await viewerOf(id, writer.cookie)
      const mine = await viewerOf(id)
      before.send(input('a'))
      await until(() => agent.text() === 'a', 5000, 'WRITE input')

      await shareInstance(core, owner.id, id, { email: writer.email, access: 'READ' })
      expect(await closedWith(before)).toBe(RELAY_CLOSE.GOING_AWAY)
      const after = await viewerOf(id, writer.cookie)
      after.send(input('b'))
      await until(() => after.events.some((e) => e.event === 'error'), 5000, 'READ refusal')
      expect(after.events.find((e) => e.event === 'error')).toMatchObject({ code: 'READ_ONLY' })
      // The owner's access did not change: its viewer stays open.
      expect(mine.closed).toBeNull()

      await deleteInstance(core, owner.id, id)
      expect(await closedWith(after)).toBe(RELAY_CLOSE.GOING_AWAY)
      expect(await closedWith(mine)).toBe(RELAY_CLOSE.GOING_AWAY)
      expect((await handshake(`${server.ws}/relay/view/${id}`, { cookie: writer.cookie })).status).toBe(404)
      expect(agent.text()).toBe('a')
    })

    test('a viewer that stops reading is cut off with its own code while the others keep up', async () => {
      const id = uuid()
      const agent = await agentOf(id)
      const fast = await viewerOf(id)
      const slow = await stalledViewer(server.host, `/relay/view/${id}`, owner.cookie)
      const closedSlow = new Promise<void>((resolve) => slow.once('close', () => resolve()))
      const chunk = 'y'.repeat(256 * 1024)
      const total = 64
      // In step with the fast viewer (it keeps up); the stalled one falls further behind each time.
      for (let i = 1; i <= total; i++) {
        agent.send(output(chunk))
        await until(() => fast.closed !== null || fast.received === i * chunk.length, 5000, 'fast viewer')
        expect(fast.closed).toBeNull()
      }
      slow.resume()
      let code = 0
      slow.on('data', (b: Buffer) => {
        // The close frame: opcode 8, its payload starts with the code.
        const at = b.lastIndexOf(0x88)
        if (at >= 0 && at + 3 < b.length) code = b.readUInt16BE(at + 2)
      })
      await closedSlow
      expect(code).toBe(RELAY_CLOSE.TOO_SLOW)
      expect(fast.closed).toBeNull()
    }, 30_000)

    test('a bad key, a stranger, a missing cookie and another site are refused before upgrading', async () => {
      const id = uuid()
      await agentOf(id)
      const bad = await handshake(`${server.ws}/relay/agent?session_id=${id}`, {
        authorization: 'Bearer prl_nope',
      })
      expect(bad.status).toBe(401)
      expect(bad.json.error.code).toBe('UNAUTHORIZED')
      const none = await handshake(`${server.ws}/relay/agent?session_id=${id}`)
      expect(none.status).toBe(401)
      const theirs = await handshake(`${server.ws}/relay/agent?session_id=${id}`, {
        authorization: `Bearer ${stranger.key}`,
      })
      expect(theirs.status).toBe(404)
      const notId = await handshake(`${server.ws}/relay/agent?session_id=abc`, {
        authorization: `Bearer ${owner.key}`,
      })
      expect(notId.status).toBe(422)
      expect(notId.json.error.field).toBe('session_id')

      expect((await handshake(`${server.ws}/relay/view/${id}`, { cookie: stranger.cookie })).status).toBe(404)
      expect((await handshake(`${server.ws}/relay/view/${id}`)).status).toBe(401)
      const elsewhere = await handshake(`${server.ws}/relay/view/${id}`, {
        cookie: owner.cookie,
        origin: 'https://evil.example',
      })
      expect(elsewhere.status).toBe(403)
      const same = peer(`${server.ws}/relay/view/${id}`, {
        headers: { cookie: owner.cookie, origin: server.base },
      })
      open.push(same)
      await same.opened
    })

    test('the key may come as the subprotocol parley-key.<key>, which is never echoed: parley.v1 is', async () => {
      const id = uuid()
      const url = `${server.ws}/relay/agent?session_id=${id}`
      const p = peer(url, { protocols: [RELAY_PROTOCOL, `parley-key.${owner.key}`] })
      open.push(p)
      await p.opened
      expect(p.socket.protocol).toBe(RELAY_PROTOCOL)
      // The older form alone is still let in, and answered with no subprotocol at all.
      const old = await rawHandshake(server.host, `/relay/agent?session_id=${id}`, {
        'sec-websocket-protocol': `parley-key.${owner.key}`,
      })
      expect(old).toStartWith('HTTP/1.1 101')
      expect(old).not.toContain(owner.key)
      expect(old.toLowerCase()).not.toContain('sec-websocket-protocol')
      const viewer = peer(`${server.ws}/relay/view/${id}`, {
        headers: { cookie: owner.cookie },
        protocols: [RELAY_PROTOCOL],
      })
      open.push(viewer)
      await viewer.opened
      expect(viewer.socket.protocol).toBe(RELAY_PROTOCOL)
    })

    test('text, malformed and oversized frames close the socket with 1003/1008', async () => {
      const id = uuid()
      const text = await agentOf(id)
      text.socket.send('hello')
      expect(await closedWith(text)).toBe(RELAY_CLOSE.UNSUPPORTED_DATA)

      const malformed = await agentOf(id)
      malformed.socket.send(new Uint8Array([0, 0, 0, 0, 9, 1]))
      expect(await closedWith(malformed)).toBe(RELAY_CLOSE.POLICY_VIOLATION)

      const oversized = await agentOf(id)
      oversized.socket.send(new Uint8Array([0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]))
      expect(await closedWith(oversized)).toBe(RELAY_CLOSE.POLICY_VIOLATION)

      const viewer = await viewerOf(id)
      viewer.send(output('a viewer does not write output'))
      expect(await closedWith(viewer)).toBe(RELAY_CLOSE.POLICY_VIOLATION)
      // The server is still there.
      const after = await agentOf(id)
      after.send(output('still here'))
      expect(after.closed).toBeNull()
    })

    test('a second agent socket replaces the first, which is closed cleanly', async () => {
      const id = uuid()
      const first = await agentOf(id)
      const viewer = await viewerOf(id)
      const second = await agentOf(id)
      expect(await closedWith(first)).toBe(RELAY_CLOSE.REPLACED)
      second.send(output('from the second'))
      await until(() => viewer.text() === 'from the second', 5000, 'second agent output')
      viewer.send(input('hi'))
      await until(() => second.text() === 'hi', 5000, 'input to the second')
      expect(viewer.events.filter((e) => e.event === 'session_ended')).toEqual([])
    })

    test('an agent socket for an ended session makes it live again; a waiting one stays waiting', async () => {
      const core = server.parley.core
      const status = async (id: string) => (await viewInstance(core.db, owner.id, id)).status
      const ended = uuid()
      ;(await agentOf(ended)).socket.close()
      await endSession(core, owner.id, ended)
      expect(await status(ended)).toBe('COMPLETED')
      await agentOf(ended) // parley run --session ID, later
      expect(await status(ended)).toBe('ACTIVE')

      const waiting = uuid()
      ;(await agentOf(waiting)).socket.close()
      await postAgentMessage(core, {
        userId: owner.id,
        instanceId: waiting,
        agentType: 'terminal',
        content: 'Deploy?',
        requiresUserInput: true,
      })
      await agentOf(waiting) // a reconnect after a restart
      expect(await status(waiting)).toBe('AWAITING_INPUT')
    })

    test('open agent and viewer sockets are counted in the websocket gauge', async () => {
      const gauge = async (role: string) => {
        const metric = await processRegistry.getSingleMetric('parley_websocket_connections')!.get()
        return metric.values.find((v) => v.labels.role === role)?.value ?? 0
      }
      const [agents, viewers] = [await gauge('relay_agent'), await gauge('relay_viewer')]
      const id = uuid()
      const agent = await agentOf(id)
      const viewer = await viewerOf(id)
      expect([await gauge('relay_agent'), await gauge('relay_viewer')]).toEqual([agents + 1, viewers + 1])
      viewer.socket.close()
      agent.socket.close()
      await until(
        async () => (await gauge('relay_viewer')) === viewers && (await gauge('relay_agent')) === agents,
        5000,
        'gauge back down',
      )
    })

    test('idle agent and viewer sockets are pinged, so no idle timeout closes them', async () => {
      const id = uuid()
      const agent = await agentOf(id)
      const viewer = await viewerOf(id)
      const pings = [0, 0]
      for (const [i, p] of [agent, viewer].entries())
        (p.socket as EventTarget).addEventListener('ping', () => pings[i]!++)
      await until(() => pings[0]! >= 2 && pings[1]! >= 2, 5000, 'pings')
      expect(agent.closed).toBeNull()
      expect(viewer.closed).toBeNull()
    })

    test('a key that expires while the socket is open ends it with the revoked code', async () => {
      const id = uuid()
      const expiresAt = new Date(Date.now() + 1000)
      const { key } = await createApiKey(server.db.db, { userId: owner.id, name: 'short-lived', expiresAt })
      const agent = await agentOf(id, key)
      expect(await closedWith(agent)).toBe(RELAY_CLOSE.KEY_REVOKED)
    })

    test('revoking the key ends the agent socket', async () => {
      const id = uuid()
      const agent = await agentOf(id)
      await revokeApiKey(server.parley.core.db, server.parley.bus, owner.keyId)
      expect(await closedWith(agent)).toBe(RELAY_CLOSE.KEY_REVOKED)
      const again = await handshake(`${server.ws}/relay/agent?session_id=${id}`, {
        authorization: `Bearer ${owner.key}`,
      })
      expect(again.status).toBe(401)
    })
  })
}
