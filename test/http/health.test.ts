// Health and readiness: /readyz reports an unreachable database (503) and a draining process.
import { describe, expect, test } from 'bun:test'
import { createApp } from '../../src/app.ts'
import { KeyVerifier } from '../../src/auth/api-keys.ts'
import { loadConfig } from '../../src/config.ts'
import { connectPostgres } from '../../src/db/client.ts'
import { MemoryBus } from '../../src/events/bus.ts'
import { call } from '../helpers.ts'

describe('readiness', () => {
  test('503 when the database cannot be reached, while /healthz stays 200', async () => {
    // Nothing listens on port 1: every connection attempt fails.
    const database = connectPostgres('postgres://postgres@127.0.0.1:1/none', { max: 1 })
    const bus = new MemoryBus()
    const stopping = new AbortController()
    const app = createApp({
      config: loadConfig({}),
      database,
      core: { db: database.db, bus },
      keys: new KeyVerifier(database.db, bus),
      stopping: stopping.signal,
    })
    const ready = await call(app, 'GET', '/readyz')
    expect(ready.status).toBe(503)
    expect(ready.json.status).toBe('unavailable')
    expect((await call(app, 'GET', '/healthz')).status).toBe(200)
    stopping.abort()
    expect((await call(app, 'GET', '/readyz')).json.status).toBe('stopping')
    await database.close()
  })
})
