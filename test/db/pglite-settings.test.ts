// The embedded database runs with settings sized for a small machine: Postgres's default 128 MB of
// shared buffers sat in PGlite's wasm heap, all of it resident, for a third of an idle server.
import { expect, test } from 'bun:test'
import { openPglite, PGLITE_SETTINGS } from '../../src/db/client.ts'

test('PGlite opens with 8 MB of shared buffers and few connection slots', async () => {
  const database = await openPglite(null)
  try {
    const [buffers] = await database.query<{ shared_buffers: string }>('show shared_buffers')
    const [connections] = await database.query<{ max_connections: string }>('show max_connections')
    expect(buffers?.shared_buffers).toBe('8MB')
    expect(connections?.max_connections).toBe(PGLITE_SETTINGS.max_connections)
  } finally {
    await database.close()
  }
})
