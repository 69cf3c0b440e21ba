// Hostile input, property-based (test/fuzz/hostile.ts): a few hundred generated requests over every
// route the app serves, on each database, and a few thousand relay messages. The seed is printed
// first; HOSTILE_SEED=<seed> replays a failure. `bun run bench` runs the same property >= 10,000 times.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { csrfTokenFor } from '../../src/auth/csrf.ts'
import { createWebSession, findWebSession, SESSION_COOKIE } from '../../src/auth/web-sessions.ts'
import {
  decodeOrRefuse,
  describeRequest,
  type FuzzTarget,
  frameMessages,
  hostileRequests,
  mcpTools,
  send,
  violation,
} from '../fuzz/hostile.ts'
import { call, dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'

const seed = Number(process.env.HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 31))
const REQUESTS = 150

/** A session for `userId` as the dashboard gives one: its cookie and CSRF token. */
async function webSession(t: TestApp, userId: string) {
  const s = await createWebSession(t.database.db, userId)
  return { cookie: `${SESSION_COOKIE}=${s.token}`, csrf: csrfTokenFor(s.token), token: s.token }
}

for (const kind of dbKinds()) {
  describe(`hostile input (${kind})`, () => {
    let t: TestApp
    let target: FuzzTarget & { session: { token: string } }
    let userId: string

    beforeAll(async () => {
      t = await testApp(kind)
      const alice = await makeUser(t.database.db, 'alice')
      userId = alice.id
      const instance = uuid()
      const ids = [instance]
      for (const requires_user_input of [false, true]) {
        const r = await call(t.app, 'POST', '/api/v1/messages/agent', {
          key: alice.key,
          body: {
            agent_instance_id: instance,
            agent_type: 'claude code',
            content: 'a step',
            requires_user_input,
          },
        })
        ids.push(r.json.message_id)
      }
      target = {
        app: t.app,
        query: t.database.query,
        key: alice.key,
        session: await webSession(t, alice.id),
        ids,
      }
    }, 60_000)
    afterAll(() => t.close())

    test(`${REQUESTS} generated requests over every route: never a 5xx, nothing written when refused`, async () => {
      console.log(`hostile input (${kind}): seed ${seed}; replay with HOSTILE_SEED=${seed}`)
      const tools = await mcpTools(target)
      expect(tools.map((x) => x.name)).toContain('log_step')
      const statuses = new Map<number, number>()
      await fc.assert(
        fc.asyncProperty(hostileRequests(target, tools), async (r) => {
          const outcome = await send(target, r)
          statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
          // A generated /logout or session revocation ends the session: the next cases get a new one.
          if (!(await findWebSession(t.database.db, target.session.token)))
            target.session = await webSession(t, userId)
          const why = violation(r, outcome)
          if (why) throw new Error(`${why}\n${describeRequest(r)}`)
        }),
        { seed, numRuns: REQUESTS },
      )
      console.log(`hostile input (${kind}): statuses`, Object.fromEntries([...statuses].sort()))
      // Most were refused, and some got through: the generator reaches past the first check.
      expect([...statuses.keys()].some((s) => s < 300)).toBe(true)
      expect([...statuses.keys()].some((s) => s === 422)).toBe(true)
    }, 120_000)
  })
}

test('relay frames: 3,000 messages decode to frames or a FrameError, nothing else', () => {
  fc.assert(
    fc.property(frameMessages, ({ bytes, frames }) => {
      const out = decodeOrRefuse(bytes)
      if (frames) expect(out).toEqual(frames)
    }),
    { seed, numRuns: 3000 },
  )
})
