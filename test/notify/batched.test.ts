// Group commit for the outbox's results (src/notify/batched.ts).
import { describe, expect, test } from 'bun:test'
import { Batched } from '../../src/notify/batched.ts'

describe('Batched', () => {
  test('items handed in while a write runs go out together in the next one, each caller getting its result', async () => {
    const writes: number[][] = []
    let finish!: () => void
    const batched = new Batched<number, string>(async (items) => {
      writes.push(items)
      if (writes.length === 1) await new Promise<void>((r) => (finish = r))
      return `write ${writes.length}`
    })
    const first = batched.add(1)
    const later = [batched.add(2), batched.add(3), batched.add(4)]
    await Bun.sleep(1)
    expect(writes).toEqual([[1]])
    finish()
    expect(await first).toBe('write 1')
    expect(await Promise.all(later)).toEqual(['write 2', 'write 2', 'write 2'])
    expect(writes).toEqual([[1], [2, 3, 4]])
    // Idle again: the next item is written at once, alone.
    expect(await batched.add(5)).toBe('write 3')
    expect(writes.at(-1)).toEqual([5])
  })

  test('a failed write fails every item it took, and the next items are still written', async () => {
    let fail = true
    const batched = new Batched<number, number>(async (items) => {
      await Bun.sleep(1)
      if (fail) throw new Error('database unavailable')
      return items.length
    })
    const taken = [batched.add(1), batched.add(2)]
    const results = await Promise.allSettled(taken)
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    fail = false
    expect(await batched.add(3)).toBe(1)
  })

  test('a write that does not settle holds the next items back only for a while', async () => {
    const writes: number[][] = []
    const batched = new Batched<number, string>(async (items) => {
      writes.push(items)
      if (items[0] === 1) await new Promise(() => {})
      return 'written'
    }, 20)
    void batched.add(1)
    const next = batched.add(2)
    await Bun.sleep(5)
    expect(writes).toEqual([[1]])
    expect(await next).toBe('written')
    expect(writes).toEqual([[1], [2]])
  })

  test('a write that throws at once fails its items, and the next items are still written', async () => {
    let calls = 0
    const batched = new Batched<number, string>((items) => {
      calls++
      if (calls === 1) throw new Error('no connection')
      return Promise.resolve(`wrote ${items.length}`)
    })
    await expect(batched.add(1)).rejects.toThrow('no connection')
    expect(await batched.add(2)).toBe('wrote 1')
  })
})
