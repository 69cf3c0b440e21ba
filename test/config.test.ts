// Configuration the Telegram bot depends on: a bad value stops start-up with one line naming it.
import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../src/config.ts'

describe('config', () => {
  test('TELEGRAM_WEBHOOK_SECRET must use the characters Telegram accepts', () => {
    expect(() => loadConfig({ TELEGRAM_WEBHOOK_SECRET: 'has spaces!' })).toThrow(ConfigError)
    expect(() => loadConfig({ TELEGRAM_WEBHOOK_SECRET: 'has spaces!' })).toThrow(/TELEGRAM_WEBHOOK_SECRET/)
    expect(loadConfig({ TELEGRAM_WEBHOOK_SECRET: 'ok_Secret-123' }).telegram.webhookSecret).toBe(
      'ok_Secret-123',
    )
  })
  test('PARLEY_WEBHOOK_ALLOW is a list of hosts and CIDRs', () => {
    expect(loadConfig({ PARLEY_WEBHOOK_ALLOW: ' n8n.local, 10.0.0.0/8 ,' }).webhookAllow).toEqual([
      'n8n.local',
      '10.0.0.0/8',
    ])
  })
  test('PARLEY_VAPID_PUBLIC_KEY and PARLEY_VAPID_PRIVATE_KEY come together and are P-256 keys', () => {
    const publicKey = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url')
    const privateKey = Buffer.alloc(32, 2).toString('base64url')
    expect(loadConfig({}).vapid).toBeNull()
    expect(
      loadConfig({ PARLEY_VAPID_PUBLIC_KEY: publicKey, PARLEY_VAPID_PRIVATE_KEY: privateKey }).vapid,
    ).toEqual({ publicKey, privateKey })
    expect(() => loadConfig({ PARLEY_VAPID_PUBLIC_KEY: publicKey })).toThrow(
      /^PARLEY_VAPID_PRIVATE_KEY: is required/,
    )
    expect(() => loadConfig({ PARLEY_VAPID_PRIVATE_KEY: privateKey })).toThrow(
      /^PARLEY_VAPID_PUBLIC_KEY: is required/,
    )
    expect(() =>
      loadConfig({ PARLEY_VAPID_PUBLIC_KEY: privateKey, PARLEY_VAPID_PRIVATE_KEY: privateKey }),
    ).toThrow(/^PARLEY_VAPID_PUBLIC_KEY: must be a base64url P-256 public key/)
    expect(() =>
      loadConfig({ PARLEY_VAPID_PUBLIC_KEY: publicKey, PARLEY_VAPID_PRIVATE_KEY: 'not+base64url' }),
    ).toThrow(/^PARLEY_VAPID_PRIVATE_KEY:/)
  })
})
