// Hostile input, property-based (test/fuzz/hostile.ts): generated requests for every route the app
// serves (about 160 a database), and a few thousand relay messages. The seed is printed
// first; HOSTILE_SEED=<seed> replays a failure. `bun run bench` runs the same property >= 10,000 times.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { decodeOrRefuse, frameMessages } from '../fuzz/frames.ts'
import {
  describeRequest,
  type FuzzTarget,
  fuzzTarget,
  hostileRequestsByRoute,
  mcpTools,
  send,
  violation,
} from '../fuzz/hostile.ts'
import { dbKinds, makeUser, type TestApp, testApp } from '../helpers.ts'

const seed = Number(process.env.HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 31))

for (const kind of dbKinds()) {
  describe(`hostile input (${kind})`, () => {
    let t: TestApp
    let target: FuzzTarget

    beforeAll(async () => {
      t = await testApp(kind)
      target = await fuzzTarget(t, await makeUser(t.database.db, 'alice'))
    }, 60_000)
    afterAll(() => t.close())

    test('every route, 2 to 8 generated requests each: never a 5xx, nothing written when refused', async () => {
      console.log(`hostile input (${kind}): seed ${seed}; replay with HOSTILE_SEED=${seed}`)
      const tools = await mcpTools(target)
      expect(tools.map((x) => x.name)).toContain('log_step')
      const statuses = new Map<number, number>()
      const routes = hostileRequestsByRoute(target, tools)
      expect(routes.length).toBe(t.app.routes.length)
      for (const { route, weight, arbitrary } of routes) {
        await fc
          .assert(
            fc.asyncProperty(arbitrary, async (r) => {
              const outcome = await send(target, r)
              statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
              const why = violation(r, outcome)
              if (why) throw new Error(`${why}\n${describeRequest(r)}`)
            }),
            // Each route its own run, all from the one printed seed.
            { seed, numRuns: 2 * weight },
          )
          .catch((err: Error) => {
            throw new Error(`${route} (seed ${seed}): ${err.message}`)
          })
      }
      const total = [...statuses.values()].reduce((a, b) => a + b, 0)
      console.log(
        `hostile input (${kind}): ${total} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
      )
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
