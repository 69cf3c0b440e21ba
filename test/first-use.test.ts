// Libraries loaded on first use (src/first-use.ts): one load shared by callers at once, kept after;
// a failed load is not kept, so the next use tries again instead of failing until a restart.
import { expect, test } from 'bun:test'
import { onFirstUse } from '../src/first-use.ts'

test('made once for callers at the same time, and kept', async () => {
  let made = 0
  const get = onFirstUse(async () => ++made)
  expect(await Promise.all([get(), get(), get()])).toEqual([1, 1, 1])
  expect(await get()).toBe(1)
  expect(made).toBe(1)
})

test('a failure is not kept: the next call makes it again', async () => {
  let calls = 0
  const get = onFirstUse(async () => {
    calls++
    if (calls === 1) throw new Error('module failed to load')
    return 'loaded'
  })
  await expect(get()).rejects.toThrow('module failed to load')
  expect(await get()).toBe('loaded')
  expect(calls).toBe(2)
})
