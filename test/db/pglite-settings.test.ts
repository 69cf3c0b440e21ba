// The embedded database runs with settings sized for a small machine: its shared memory lives in
// PGlite's wasm heap, all of it resident. Postgres's defaults (128 MB of shared buffers, 100
// connection slots) made 145 MB of it, a third of an idle server; each 2 MB saved is 2 MiB of RSS.
import { describe, expect, test } from 'bun:test'
import { PGlite } from '@electric-sql/pglite'
import { pgliteOptions, wrapPglite, zstdContentSize } from '../../src/db/client.ts'
import { pgliteTemplate } from '../helpers.ts'

test('PGlite opens with 4 MB of shared buffers and 8 MB of shared memory in all', async () => {
  // Opened as Parley opens it, on a copy of the migrated template (no initdb: seconds saved).
  const database = wrapPglite(
    new PGlite({ ...(await pgliteOptions(null)), loadDataDir: await pgliteTemplate() }),
  )
  try {
    const [buffers] = await database.query<{ shared_buffers: string }>('show shared_buffers')
    const [shared] = await database.query<{ shared_memory_size: string }>('show shared_memory_size')
    expect(buffers?.shared_buffers).toBe('4MB')
    // Buffers, connection slots, lock tables, WAL buffers: Postgres sizes it in whole 2 MB steps.
    expect(shared?.shared_memory_size).toBe('8MB')
  } finally {
    await database.close()
  }
})

describe('zstdContentSize', () => {
  test('reads the size a zstd frame declares, for every width of the field', () => {
    for (const n of [0, 1, 255, 256, 300, 65_791, 70_000, 6_242_272]) {
      expect(zstdContentSize(Bun.zstdCompressSync(new Uint8Array(n).fill(7)))).toBe(n)
    }
    expect(zstdContentSize(new Uint8Array([1, 2, 3, 4, 5, 6]))).toBeNull()
  })
})
