// Telegram's name and label, and what its webhook route checks, apart from the bot so that neither
// loads grammY: it is loaded only when TELEGRAM_BOT_TOKEN is set.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Config } from '../../src/config.ts'
import type { ChatChannelInfo } from '../../src/notify/channel.ts'

/** Telegram as core and people name it. */
export const TELEGRAM_CHANNEL = { channel: 'telegram', label: 'Telegram' } as const satisfies ChatChannelInfo

export const WEBHOOK_PATH = '/telegram/webhook'

/** The secret Telegram sends back on every webhook call: configured, or derived from the token. */
export function webhookSecret(config: Config): string {
  return (
    config.telegram.webhookSecret ??
    createHmac('sha256', config.telegram.botToken ?? '')
      .update('parley telegram webhook')
      .digest('hex')
  )
}

export function secretMatches(expected: string, given: string | null): boolean {
  if (given === null) return false
  const a = Buffer.from(expected)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}
