// Guessing API keys is slowed down per client address: past BAD_KEYS_PER_ADDRESS bad keys the
// address is answered 429 with Retry-After and the {error} body, on REST, MCP, hooks and the relay.
// The address is the socket's, or Fly-Client-IP when running on Fly (FLY_APP_NAME set), never a
// header a client chooses. The counts live in memory, not in the database: one database suffices.
// Off Fly the test needs a real socket: a request handed to the app without one has no address.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { BAD_KEYS_PER_ADDRESS } from '../../src/auth/api-keys.ts'
import { call, makeUser, type TestApp, testApp, WEBSOCKET_HANDSHAKE } from '../helpers.ts'

const guess = (i: number) => `prl_${'A'.repeat(39)}${String(i).padStart(4, '0')}`

async function guessUntilLocked(t: TestApp, headers: Record<string, string> = {}) {
  for (let i = 0; i < BAD_KEYS_PER_ADDRESS; i++) {
    const res = await call(t.app, 'GET', '/api/v1/auth/verify', { key: guess(i), headers })
    expect(res.status).toBe(401)
  }
}

describe('API-key guessing behind Fly', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await testApp('pglite', { env: { FLY_APP_NAME: 'parley-test' } })
  }, 60_000)
  afterAll(() => t.close())

  test('an address past the limit gets 429 with Retry-After on REST, MCP and hooks; other addresses do not', async () => {
    const alice = await makeUser(t.database.db, 'alice')
    const mallory = { 'fly-client-ip': '203.0.113.7' }
    await guessUntilLocked(t, mallory)
    const locked = await call(t.app, 'GET', '/api/v1/auth/verify', { key: guess(999), headers: mallory })
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(locked.json.error.code).toBe('RATE_LIMITED')
    expect(locked.json.error.message).toContain('Too many invalid API keys')
    // Locked means not even checked: the right key waits too (the price of a shared address).
    const right = await call(t.app, 'GET', '/api/v1/auth/verify', { key: alice.key, headers: mallory })
    expect(right.status).toBe(429)
    const mcp = await call(t.app, 'POST', '/mcp', {
      key: guess(1000),
      headers: { ...mallory, accept: 'application/json, text/event-stream' },
      body: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    })
    expect(mcp.status).toBe(429)
    expect(mcp.json.error.code).toBe('RATE_LIMITED')
    const hook = await call(t.app, 'POST', '/hooks/claude-code', {
      key: guess(1001),
      headers: mallory,
      body: {},
    })
    expect(hook.status).toBe(429)
    // The relay's agent socket counts too: refused before upgrading.
    const relay = await call(t.app, 'GET', `/relay/agent?session_id=${crypto.randomUUID()}`, {
      key: guess(1002),
      headers: { ...mallory, ...WEBSOCKET_HANDSHAKE },
    })
    expect(relay.status).toBe(429)
    expect(hook.headers.get('retry-after')).not.toBeNull()
    // Another client, behind the same proxy, is not held back.
    const other = await call(t.app, 'GET', '/api/v1/auth/verify', {
      key: alice.key,
      headers: { 'fly-client-ip': '198.51.100.20' },
    })
    expect(other.status).toBe(200)
  }, 60_000)
})

describe('API-key guessing anywhere else', () => {
  let t: TestApp
  let base: string
  beforeAll(async () => {
    t = await testApp('pglite')
    t.app.listen({ port: 0, hostname: '127.0.0.1' })
    base = `http://127.0.0.1:${t.app.server!.port}`
  }, 60_000)
  afterAll(async () => {
    await t.app.stop(true)
    await t.close()
  })

  test('Fly-Client-IP is ignored off Fly: changing it per request does not escape the limit', async () => {
    const verify = (key: string, spoofed: string) =>
      fetch(`${base}/api/v1/auth/verify`, {
        headers: { authorization: `Bearer ${key}`, 'fly-client-ip': spoofed, 'x-forwarded-for': spoofed },
      })
    for (let i = 0; i < BAD_KEYS_PER_ADDRESS; i++) {
      const res = await verify(guess(i), `192.0.2.${i}`)
      expect(res.status).toBe(401)
      await res.body?.cancel()
    }
    const res = await verify(guess(999), '192.0.2.250')
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).not.toBeNull()
    expect(await res.json()).toEqual({
      error: { code: 'RATE_LIMITED', message: expect.any(String) },
      detail: expect.any(String),
    })
  }, 60_000)
})
