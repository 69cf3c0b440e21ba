// POST /telegram/webhook: Telegram's pushed updates. The secret token header is checked in
// constant time before the body is read; a wrong one is refused and changes nothing.
//
// Mounted ahead of the shared body parser (src/app.ts), which refuses text the database cannot
// store (a NUL character) with a 422: Telegram would send such an update again and again, and the
// updates behind it would wait. Here every update with the right secret is taken; text in it is
// checked where it is used (core refuses an answer holding a NUL, and the bot says why).
import { Elysia } from 'elysia'
import { AppError, BadRequest, InvalidInput, Unauthorized } from '../../src/errors.ts'
import { errorResponse, readJsonBody } from '../../src/http/errors.ts'
import { log } from '../../src/log.ts'
import { secretMatches, WEBHOOK_PATH } from './channel.ts'
import type { Telegram } from './runner.ts'

export const telegramWebhook = (deps: { telegram?: Telegram | null }) => {
  const app = new Elysia({ name: 'parley.telegram' })
  const tg = deps.telegram
  if (tg?.mode !== 'webhook') return app
  return app.post(
    WEBHOOK_PATH,
    async ({ request }) => {
      try {
        if (!secretMatches(tg.secret, request.headers.get('x-telegram-bot-api-secret-token'))) {
          throw new Unauthorized('Missing or wrong X-Telegram-Bot-Api-Secret-Token')
        }
        const update = (await readJsonBody(request)) as { update_id?: unknown } | null
        if (typeof update !== 'object' || update === null)
          throw new BadRequest('Body must be a JSON object', 'body')
        if (typeof update?.update_id !== 'number' || !Number.isInteger(update.update_id)) {
          throw new InvalidInput('update_id', 'update_id must be an integer')
        }
        // Handler failures are logged; Telegram gets 200 either way, since a resend would be
        // dropped as a duplicate.
        await tg.handleUpdate(update as never)
        return { ok: true }
      } catch (err) {
        if (err instanceof AppError) return errorResponse(err)
        log.error({ err }, 'telegram: webhook request failed')
        return errorResponse(new AppError('INTERNAL', 'Internal server error'))
      }
    },
    { parse: 'none' },
  )
}
