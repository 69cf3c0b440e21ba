// Runs the Telegram bot in one of its two modes. With PUBLIC_URL: Telegram pushes updates to
// POST /telegram/webhook, registered with setWebhook and a secret token. Without it: long polling,
// which Telegram allows one process at a time, so the poller holds a Postgres advisory lock and
// other processes wait on it (blocked in Postgres, no retry loop) and take over when it goes away.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Config } from '../../src/config.ts'
import type { Core } from '../../src/core/context.ts'
import { type LockDatabase, ProcessLock } from '../../src/core/process-lock.ts'
import { TELEGRAM_PACING, TelegramAdapter } from './adapter.ts'
import { createBot } from './bot.ts'

export const WEBHOOK_PATH = '/telegram/webhook'
export const ALLOWED_UPDATES = ['message', 'callback_query'] as const
const COMMANDS = [
  { command: 'status', description: 'Open questions and running agents' },
  { command: 'unlink', description: 'Stop sending to this chat' },
  { command: 'help', description: 'How to answer from Telegram' },
]
/** Advisory lock key held by the one process that long-polls Telegram. */
const POLLER_LOCK = 0x7061726c // "parl"

export type TelegramOptions = {
  /** Pacing for tests; the default is Telegram's limits. */
  pacing?: { perTargetMs: number; perSecond: number }
  log?: (message: string, err?: unknown) => void
}

export type Telegram = Awaited<ReturnType<typeof createTelegram>>

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

/** Builds the bot (null without a token); `start` registers the webhook or begins polling. */
export async function createTelegram(
  deps: { config: Config; core: Core; database: LockDatabase; baseUrl: () => string },
  opts: TelegramOptions = {},
) {
  const { config } = deps
  const token = config.telegram.botToken
  if (!token) return null
  const log = opts.log ?? ((m: string, err?: unknown) => console.error(`telegram: ${m}`, err ?? ''))
  const bot = createBot(
    { token, apiRoot: config.telegram.apiRoot },
    { core: deps.core, baseUrl: deps.baseUrl, log },
  )
  try {
    await bot.init()
  } catch (err) {
    // A wrong token or an unreachable Bot API must not keep Parley from serving everything else.
    log('cannot reach the Bot API (getMe failed); the Telegram bot is off', err)
    return null
  }
  const adapter = new TelegramAdapter(bot.api, opts.pacing ?? TELEGRAM_PACING)
  const mode: 'webhook' | 'polling' = config.publicUrl ? 'webhook' : 'polling'
  const secret = webhookSecret(config)
  let poller: Poller | null = null

  return {
    bot,
    adapter,
    mode,
    secret,
    /** A webhook update, already checked against the secret. */
    handleUpdate: (update: Parameters<typeof bot.handleUpdate>[0]) =>
      bot.handleUpdate(update).catch((err) => log(`telegram update ${update.update_id} failed`, err)),
    async start(): Promise<void> {
      await bot.api.setMyCommands(COMMANDS).catch((err) => log('setMyCommands failed', err))
      if (mode === 'webhook') {
        // If Telegram cannot be reached now, the webhook registered earlier usually still holds.
        await bot.api
          .setWebhook(`${config.publicUrl}${WEBHOOK_PATH}`, {
            secret_token: secret,
            allowed_updates: [...ALLOWED_UPDATES],
          })
          .catch((err) => log('setWebhook failed', err))
        return
      }
      poller = new Poller(bot, new ProcessLock(deps.database, POLLER_LOCK), log)
      poller.start()
    },
    async stop(): Promise<void> {
      await poller?.stop()
    },
  }
}

class Poller {
  private stopped = false
  private running: Promise<void> | null = null

  constructor(
    private readonly bot: ReturnType<typeof createBot>,
    private readonly lock: ProcessLock,
    private readonly log: (message: string, err?: unknown) => void,
  ) {}

  start(): void {
    this.running = this.run().catch((err) => {
      if (!this.stopped) this.log('long polling stopped', err)
    })
  }

  private async run(): Promise<void> {
    // Waits here (in Postgres) until this process is the poller.
    if (!(await this.lock.acquire()) || this.stopped) return
    await this.bot.start({ allowed_updates: [...ALLOWED_UPDATES] })
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.bot.isRunning()) await this.bot.stop().catch((err) => this.log('stopping long polling', err))
    else await this.lock.cancel() // still waiting for the lock
    await this.running
    await this.lock.release()
  }
}
