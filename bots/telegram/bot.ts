// The Parley Telegram bot: grammY, one composer per feature. Updates are deduplicated by
// update_id first (Telegram resends webhook updates it thinks were lost), so a retry has no effect.
import { Bot } from 'grammy'
import { answerPath } from '../../src/core/context.ts'
import { firstTimeSeen } from '../../src/core/processed-updates.ts'
import { answers } from './answers.ts'
import type { BotContext, BotDeps } from './context.ts'
import { linking } from './linking.ts'

export type BotOptions = {
  token: string
  apiRoot: string | null
  /** How long one Bot API call may take before it fails (and the outbox retries); default 30 s. */
  timeoutSeconds?: number
}

export function createBot(opts: BotOptions, deps: BotDeps): Bot<BotContext> {
  const bot = new Bot<BotContext>(opts.token, {
    client: { ...(opts.apiRoot ? { apiRoot: opts.apiRoot } : {}), timeoutSeconds: opts.timeoutSeconds ?? 30 },
  })
  bot.use(async (ctx, next) => {
    ctx.deps = deps
    ctx.linkedUserId = null
    if (await firstTimeSeen(answerPath(deps.core), 'telegram', String(ctx.update.update_id))) await next()
  })
  bot.use(linking)
  bot.use(answers)
  bot.catch((err) => deps.log(`telegram update ${err.ctx.update.update_id} failed`, err.error))
  return bot
}
