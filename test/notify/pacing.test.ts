import { expect, test } from 'bun:test'
import { backoffDelay, Pacer } from '../../src/notify/pacing'

test('booked slots: one per perTargetMs to a target, one per 1/perSecond on the channel', () => {
  let clock = 1000
  const pacer = new Pacer({ perTargetMs: 60, perSecond: 100 }, () => clock)
  const slots = ['a', 'b', 'a', 'c', 'a'].map((target) => [target, pacer.book(target)] as const)
  // The channel admits one send per 10 ms; target a waits 60 ms between its own sends.
  expect(slots).toEqual([
    ['a', 1000],
    ['b', 1010],
    ['a', 1060],
    ['c', 1070],
    ['a', 1120],
  ])
  clock = 5000 // long idle: the next slot is now, not a backlog of past ones
  expect(pacer.book('a')).toBe(5000)
  pacer.holdTarget('b', 9000) // a 429 with retry_after
  expect(pacer.earliest('b')).toBe(9000)
  expect(pacer.earliest('c')).toBe(5010)
})

test('admit waits for the real start of the previous send', async () => {
  const pacer = new Pacer({ perTargetMs: 40, perSecond: 1000 })
  const t0 = Date.now()
  await pacer.admit('a')
  await pacer.admit('a')
  expect(Date.now() - t0).toBeGreaterThanOrEqual(40)
})

test('backoff doubles from the base up to the cap, each delay within ±20 % jitter', () => {
  const b = { baseMs: 1000, maxMs: 10_000, maxAttempts: 12 }
  const nominal = [1000, 1000, 2000, 4000, 8000, 10_000, 10_000]
  for (let round = 0; round < 200; round++) {
    for (const [attempts, ms] of nominal.entries()) {
      const d = backoffDelay(b, attempts)
      expect(d).toBeGreaterThanOrEqual(0.8 * ms)
      expect(d).toBeLessThanOrEqual(1.2 * ms)
    }
  }
})
