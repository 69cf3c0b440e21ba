// Which address login throttling counts against: behind Fly's proxy the socket is always the
// proxy's, so one visitor's failures would lock everyone out unless Fly-Client-IP is used there.
import { describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config.ts'
import { clientAddress } from '../../src/web/http.ts'

const request = (headers: Record<string, string> = {}) => new Request('http://parley.test/login', { headers })

describe('clientAddress', () => {
  test('on Fly (FLY_APP_NAME set) the address comes from Fly-Client-IP', () => {
    const config = loadConfig({ FLY_APP_NAME: 'parley' })
    expect(config.behindFlyProxy).toBe(true)
    expect(clientAddress(request({ 'fly-client-ip': '203.0.113.7' }), '172.16.0.2', config)).toBe(
      '203.0.113.7',
    )
    expect(clientAddress(request(), '172.16.0.2', config)).toBe('172.16.0.2')
  })

  test('elsewhere the header is ignored: a client could send any value to dodge the limit', () => {
    const config = loadConfig({})
    expect(config.behindFlyProxy).toBe(false)
    expect(clientAddress(request({ 'fly-client-ip': '203.0.113.7' }), '198.51.100.4', config)).toBe(
      '198.51.100.4',
    )
    expect(clientAddress(request(), undefined, config)).toBe('unknown')
  })
})
