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
})
