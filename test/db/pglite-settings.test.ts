// The embedded database runs with settings sized for a small machine: Postgres's default 128 MB of
// shared buffers sat in PGlite's wasm heap, all of it resident, for a third of an idle server.
import { expect, test } from 'bun:test'
import { PGlite } from '@electric-sql/pglite'
import { PGLITE_SETTINGS, pgliteOptions, wrapPglite } from '../../src/db/client.ts'
import { pgliteTemplate } from '../helpers.ts'

test('PGlite opens with 8 MB of shared buffers and few connection slots', async () => {
  // Opened as Parley opens it, on a copy of the migrated template (no initdb: seconds saved).
  const database = wrapPglite(
    new PGlite({ ...(await pgliteOptions(null)), loadDataDir: await pgliteTemplate() }),
  )
  try {
    const [buffers] = await database.query<{ shared_buffers: string }>('show shared_buffers')
    const [connections] = await database.query<{ max_connections: string }>('show max_connections')
    expect(buffers?.shared_buffers).toBe('8MB')
    expect(connections?.max_connections).toBe(PGLITE_SETTINGS.max_connections)
  } finally {
    await database.close()
  }
})
