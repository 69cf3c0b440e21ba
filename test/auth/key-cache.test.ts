// The API-key cache: a key in use is looked up again before its entry ends, so no request waits
// for the lookup; requests arriving together share one lookup; a lookup that read a key before it
// was revoked is not kept.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { CACHE_MS, KeyVerifier, REFRESH_AHEAD_MS, revokeApiKey, sha256 } from '../../src/auth/api-keys.ts'
import { MemoryBus } from '../../src/events/bus.ts'
import { dbKinds, freshDatabase, makeUser, type TestDb, until } from '../helpers.ts'

for (const kind of dbKinds()) {
  describe(`API-key cache (${kind})`, () => {
    let t: TestDb
    beforeAll(async () => {
      t = await freshDatabase(kind)
    }, 60_000)
    afterAll(() => t.drop())

    test('a key used in its entry last second is looked up again in the background', async () => {
      const u = await makeUser(t.database.db, 'ahead')
      let now = 1_000_000
      const keys = new KeyVerifier(t.database.db, new MemoryBus(), () => now)
      expect(await keys.verify(u.key)).not.toBeNull()
      await revokeApiKey(t.database.db, null, u.keyId) // unheard: only the lookup can tell
      // Early in the entry: answered from the cache, nothing looked up.
      now += CACHE_MS - REFRESH_AHEAD_MS - 1
      const before = t.database.queryCount()
      expect(await keys.verify(u.key)).not.toBeNull()
      expect(t.database.queryCount()).toBe(before)
      // In its last second: still answered from the cache at once, and looked up meanwhile.
      now += 2
      expect(await keys.verify(u.key)).not.toBeNull()
      expect(t.database.queryCount()).toBe(before + 1)
      // The lookup's answer (revoked) replaces the entry before it would have ended (the clock
      // stands still here, inside the first entry's time).
      await until(async () => (await keys.verify(u.key)) === null, 2000, 'the refreshed entry')
      await keys.close()
    })

    test('requests arriving together when the entry has ended share one lookup', async () => {
      const u = await makeUser(t.database.db, 'herd')
      let now = 2_000_000
      const keys = new KeyVerifier(t.database.db, new MemoryBus(), () => now)
      expect(await keys.verify(u.key)).not.toBeNull()
      now += CACHE_MS
      const before = t.database.queryCount()
      const all = await Promise.all(Array.from({ length: 32 }, () => keys.verify(u.key)))
      expect(all.every((p) => p?.userId === u.id)).toBe(true)
      expect(t.database.queryCount()).toBe(before + 1)
      await keys.close()
    })

    test('a lookup in flight when the key is revoked is neither granted nor cached', async () => {
      const u = await makeUser(t.database.db, 'race')
      let now = 3_000_000
      const bus = new MemoryBus()
      const keys = new KeyVerifier(t.database.db, bus, () => now)
      expect(await keys.verify(u.key)).not.toBeNull()
      now += CACHE_MS
      // The lookup is sent (it will read the key as valid), and the revocation is heard before
      // its answer comes back; the key is revoked in the database after that read.
      const inFlight = keys.verify(u.key)
      await bus.publish({ type: 'key.revoked', keyHash: sha256(u.key) })
      expect(await inFlight).toBeNull() // a request holding on could not be ended any more
      await revokeApiKey(t.database.db, null, u.keyId)
      // Within the next entry's time: had the in-flight lookup been kept, the key would pass.
      now += 1
      expect(await keys.verify(u.key)).toBeNull()
      await keys.close()
    })
  })
}
