// POST /telegram/webhook: Telegram's pushed updates. The secret token header is checked in
// constant time before anything is done with the body; a wrong one is refused and changes nothing.
import { Elysia } from 'elysia'
import { BadRequest, InvalidInput, Unauthorized } from '../../src/errors.ts'
import { secretMatches, WEBHOOK_PATH } from './channel.ts'
import type { Telegram } from './runner.ts'

export const telegramWebhook = (deps: { telegram?: Telegram | null }) => {
  const app = new Elysia({ name: 'parley.telegram' })
  const tg = deps.telegram
  if (tg?.mode !== 'webhook') return app
  return app.post(WEBHOOK_PATH, async ({ request, body }) => {
    if (!secretMatches(tg.secret, request.headers.get('x-telegram-bot-api-secret-token'))) {
      throw new Unauthorized('Missing or wrong X-Telegram-Bot-Api-Secret-Token')
    }
    // The shared JSON parser (src/http/errors.ts) has read the body, with its size limit.
    const update = body as { update_id?: unknown } | null
    if (typeof update !== 'object' || update === null)
      throw new BadRequest('Body must be a JSON object', 'body')
    if (typeof update?.update_id !== 'number' || !Number.isInteger(update.update_id)) {
      throw new InvalidInput('update_id', 'update_id must be an integer')
    }
    // Handler failures are logged; Telegram gets 200 either way, since a resend would be
    // dropped as a duplicate.
    await tg.handleUpdate(update as never)
    return { ok: true }
  })
}
