// Runs the Telegram bot in one of its two modes. With PUBLIC_URL: Telegram pushes updates to
// POST /telegram/webhook, registered with setWebhook and a secret token. Without it: long polling,
// which Telegram allows one process at a time, so the poller holds a Postgres advisory lock and
// other processes wait on it (blocked in Postgres, no retry loop) and take over when it goes away.
// The lock goes with its connection: a poller whose lock connection dies stops polling within two
// checks (ProcessLock.watch), and a process that just took the lock waits three checks before it
// polls, so two processes never poll at once; the one that lost it goes back to waiting.
import type { Config } from '../../src/config.ts'
import type { Core } from '../../src/core/context.ts'
import { type LockDatabase, ProcessLock } from '../../src/core/process-lock.ts'
import { log, logError } from '../../src/log.ts'
import { TELEGRAM_PACING, TelegramAdapter } from './adapter.ts'
import { createBot } from './bot.ts'
import { WEBHOOK_PATH, webhookSecret } from './channel.ts'

export { secretMatches, WEBHOOK_PATH, webhookSecret } from './channel.ts'
export const ALLOWED_UPDATES = ['message', 'callback_query'] as const
export const COMMANDS = [
  { command: 'status', description: 'Open questions and running agents' },
  { command: 'unlink', description: 'Stop sending to this chat' },
  { command: 'help', description: 'How to answer from Telegram' },
]
/** Advisory lock key held by the one process that long-polls Telegram. */
export const POLLER_LOCK = 0x7061726c // "parl"

export type TelegramOptions = {
  /** Pacing for tests; the default is Telegram's limits. */
  pacing?: { perTargetMs: number; perSecond: number }
  log?: (message: string, err?: unknown) => void
  /** How long one Bot API call may take (default 30 s). */
  apiTimeoutSeconds?: number
  /** How often the poller checks it still holds the polling lock (default 1.5 s). */
  lockCheckMs?: number
}

export type Telegram = Awaited<ReturnType<typeof createTelegram>>

/** Builds the bot (null without a token); `start` registers the webhook or begins polling. */
export async function createTelegram(
  deps: { config: Config; core: Core; database: LockDatabase; baseUrl: () => string },
  opts: TelegramOptions = {},
) {
  const { config } = deps
  const token = config.telegram.botToken
  if (!token) return null
  const log = opts.log ?? logError('telegram')
  const bot = createBot(
    { token, apiRoot: config.telegram.apiRoot, timeoutSeconds: opts.apiTimeoutSeconds },
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
      poller = new Poller(bot, new ProcessLock(deps.database, POLLER_LOCK), log, opts.lockCheckMs ?? 1500)
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
  private wakeUp: (() => void) | null = null

  constructor(
    private readonly bot: ReturnType<typeof createBot>,
    private readonly lock: ProcessLock,
    private readonly log: (message: string, err?: unknown) => void,
    private readonly checkMs: number,
  ) {}

  start(): void {
    this.running = this.run().catch((err) => {
      if (!this.stopped) this.log('long polling stopped', err)
    })
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // Waits here (in Postgres) until this process is the poller.
      if (!(await this.lock.acquire()) || this.stopped) return
      let lost = false
      const unwatch = this.lock.watch(this.checkMs, () => {
        lost = true
        this.log(
          'the polling lock was lost with its database connection; polling stops until it is held again',
        )
        this.wakeUp?.()
        if (this.bot.isRunning()) void this.bot.stop().catch((err) => this.log('stopping long polling', err))
      })
      try {
        // A poller that lost this lock stops within two checks: wait longer than that first.
        await this.pause(3 * this.checkMs)
        if (!lost && !this.stopped) {
          log.info('Telegram: long polling from this process')
          await this.bot.start({ allowed_updates: [...ALLOWED_UPDATES] })
        }
      } finally {
        unwatch()
      }
      if (!lost) return
      await this.lock.release()
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.wakeUp = done
    }).finally(() => {
      this.wakeUp = null
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.wakeUp?.()
    if (this.bot.isRunning()) await this.bot.stop().catch((err) => this.log('stopping long polling', err))
    else await this.lock.cancel() // still waiting for the lock
    await this.running
    await this.lock.release()
  }
}
