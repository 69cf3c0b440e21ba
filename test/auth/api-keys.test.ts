// API keys: only a hash is stored; revocation and expiry are refused on REST and MCP; last use is
// recorded in batches rather than with a write per request.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createApiKey, KeyVerifier, revokeApiKey, sha256 } from '../../src/auth/api-keys.ts'
import { MemoryBus } from '../../src/events/bus.ts'
import { call, dbKinds, makeUser, type TestApp, testApp } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`API keys (${kind})`, () => {
    let t: TestApp
    beforeAll(async () => {
      t = await testApp(kind)
    }, 60_000)
    afterAll(() => t.close())

    const verify = (key: string) => call(t.app, 'GET', '/api/v1/auth/verify', { key })
    const mcpList = (key: string) =>
      t.app.handle(
        new Request('http://localhost/mcp', {
          method: 'POST',
          headers: {
            authorization: `Bearer ${key}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        }),
      )

    test('the database holds only the sha256 of a key and its prefix', async () => {
      const u = await makeUser(t.database.db, 'hash')
      const rows = await t.database.query<{ key_hash: string; key_prefix: string }>(
        'select key_hash, key_prefix from api_keys where id = $1',
        [u.keyId],
      )
      expect(rows[0]!.key_hash).toBe(sha256(u.key))
      expect(u.key.startsWith(rows[0]!.key_prefix)).toBe(true)
      expect(rows[0]!.key_prefix.length).toBeLessThan(u.key.length / 3)
    })

    test('revocation through the app process is refused at once on REST and MCP', async () => {
      const u = await makeUser(t.database.db, 'revoke')
      expect((await verify(u.key)).status).toBe(200)
      expect((await mcpList(u.key)).status).toBe(200)
      await revokeApiKey(t.database.db, t.bus, u.keyId)
      expect((await verify(u.key)).status).toBe(401)
      expect((await mcpList(u.key)).status).toBe(401)
    })

    test('a revocation this process does not hear of takes effect within the 5 s cache', async () => {
      const u = await makeUser(t.database.db, 'cli-revoke')
      let now = 1_000_000
      // A bus of its own: the CLI's NOTIFY (heard on Postgres) does not reach this verifier.
      const keys = new KeyVerifier(t.database.db, new MemoryBus(), () => now)
      expect(await keys.verify(u.key)).not.toBeNull()
      await revokeApiKey(t.database.db, null, u.keyId) // no bus: as the CLI does
      now += 4_000
      expect(await keys.verify(u.key)).not.toBeNull() // still cached
      now += 1_001
      expect(await keys.verify(u.key)).toBeNull()
      await keys.close()
    })

    test('an expired key is refused', async () => {
      const u = await makeUser(t.database.db, 'expired')
      const { key } = await createApiKey(t.database.db, {
        userId: u.id,
        name: 'old',
        expiresAt: new Date(Date.now() - 1000),
      })
      const r = await verify(key)
      expect(r.status).toBe(401)
      expect(r.headers.get('www-authenticate')).toBe('Bearer')
    })

    test('last_used_at is written in a batch, not per request', async () => {
      const u = await makeUser(t.database.db, 'used')
      for (let i = 0; i < 5; i++) expect((await verify(u.key)).status).toBe(200)
      const before = await t.database.query<{ last_used_at: unknown }>(
        'select last_used_at from api_keys where id = $1',
        [u.keyId],
      )
      expect(before[0]!.last_used_at).toBeNull()
      const queries = t.database.queryCount()
      await t.keys.flush()
      expect(t.database.queryCount() - queries).toBe(1)
      const after = await t.database.query<{ last_used_at: unknown }>(
        'select last_used_at from api_keys where id = $1',
        [u.keyId],
      )
      expect(after[0]!.last_used_at).not.toBeNull()
    })
  })
}
