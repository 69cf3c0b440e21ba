// The SSE fan-out: one bus subscription, one render per group of identical views, every stream
// in the group gets it; other people's instances never reach a stream unless shared with them;
// thread messages reach each stream once; closed streams are forgotten.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { shareInstance } from '../../src/core/instance-admin.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import type { BusEvent } from '../../src/events/bus.ts'
import { type GroupSpec, LiveHub, sseFrame } from '../../src/web/live-hub.ts'
import { dbKinds, makeUser, type TestApp, testApp, until, uuid } from '../helpers.ts'

/** Reads SSE text from a response until `until` matches what has arrived (or 3 s pass). */
async function readUntil(res: Response, until: (text: string) => boolean) {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  const deadline = Date.now() + 3000
  while (!until(text) && Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)])
    if (!chunk || chunk.done) break
    text += decoder.decode(chunk.value)
  }
  reader.releaseLock()
  return text
}

describe('sseFrame', () => {
  test('multi-line HTML becomes one message with a data field per line', () => {
    expect(sseFrame('<p>a</p>\n<p>b</p>', 'x1')).toBe('id: x1\ndata: <p>a</p>\ndata: <p>b</p>\n\n')
  })
})

for (const kind of dbKinds()) {
  describe(`live hub (${kind})`, () => {
    let t: TestApp
    let hub: LiveHub
    let alice: Awaited<ReturnType<typeof makeUser>>
    let bob: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      hub = new LiveHub(t.core)
      alice = await makeUser(t.database.db, 'alice')
      bob = await makeUser(t.database.db, 'bob')
    }, 60_000)
    afterAll(async () => {
      hub.close()
      await t.close()
    })

    const inboxSpec = (viewerId: string, renders: BusEvent[][]): GroupSpec => ({
      key: `inbox:${viewerId}`,
      viewerId,
      wants: () => true,
      render: async (events) => {
        renders.push(events)
        return [{ html: `<p>update ${events.map((e) => e.type).join(',')}</p>` }]
      },
    })
    const open = (spec: GroupSpec) => {
      const controller = new AbortController()
      const request = new Request('http://parley.test/events', { signal: controller.signal })
      return { res: hub.open(spec, { request }), abort: () => controller.abort() }
    }

    test('one render per group reaches every stream; strangers see nothing; sharing lets them in', async () => {
      const aliceRenders: BusEvent[][] = []
      const bobRenders: BusEvent[][] = []
      const tabs = [open(inboxSpec(alice.id, aliceRenders)), open(inboxSpec(alice.id, aliceRenders))]
      const bobTab = open(inboxSpec(bob.id, bobRenders))
      await Promise.all([...tabs, bobTab].map((s) => readUntil(s.res, (x) => x.includes(': connected'))))
      const id = uuid()
      await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId: id,
        agentType: 'x',
        content: 'hi',
        requiresUserInput: false,
      })
      const texts = await Promise.all(
        tabs.map((s) => readUntil(s.res, (x) => x.includes('instance.updated'))),
      )
      for (const text of texts) expect(text).toContain('data: <p>update')
      // message.created and instance.updated: at most two renders for the pair of tabs, not four.
      expect(aliceRenders.length).toBeLessThanOrEqual(2)
      expect(aliceRenders.flat().map((e) => e.type)).toEqual(['message.created', 'instance.updated'])
      expect(bobRenders).toHaveLength(0)

      await shareInstance(t.core, alice.id, id, { email: bob.email, access: 'READ' })
      await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId: id,
        agentType: 'x',
        content: 'again',
        requiresUserInput: false,
      })
      expect(await readUntil(bobTab.res, (x) => x.includes('message.created'))).toContain('<p>update')
      for (const s of [...tabs, bobTab]) s.abort()
      await until(() => hub.streamCount() === 0, 5000, 'every stream closed')
    })

    test('a thread message reaches a stream once, even if it was also in the catch-up', async () => {
      const id = uuid()
      const first = await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId: id,
        agentType: 'x',
        content: 'one',
        requiresUserInput: false,
      })
      const spec: GroupSpec = {
        key: `instance:${id}:${alice.id}`,
        viewerId: alice.id,
        wants: (e) => 'instanceId' in e && e.instanceId === id && e.type === 'message.created',
        render: async (events) =>
          events.flatMap((e) =>
            e.type === 'message.created' ? [{ html: `<p>m ${e.messageId}</p>`, messageId: e.messageId }] : [],
          ),
      }
      const controller = new AbortController()
      const request = new Request('http://parley.test/events', { signal: controller.signal })
      const res = hub.open(spec, {
        request,
        lastMessageId: null,
        initial: async () => [{ html: `<p>m ${first.messageId}</p>`, messageId: first.messageId }],
      })
      const second = await postAgentMessage(t.core, {
        userId: alice.id,
        instanceId: id,
        agentType: 'x',
        content: 'two',
        requiresUserInput: false,
      })
      const text = await readUntil(res, (x) => x.includes(second.messageId))
      controller.abort()
      expect(text.split(`<p>m ${first.messageId}</p>`)).toHaveLength(2)
      expect(text).toContain(`id: ${second.messageId}`)
    })
  })
}
