// POST /slack/events: events, interactivity and slash commands, served by Parley's own HTTP
// server. The body is left unparsed (`parse: 'none'`) because the signature covers the raw bytes;
// the plugin is mounted ahead of the shared body parser and answers its own errors.
import { Elysia } from 'elysia'
import { AppError, type ErrorCode } from '../../src/errors.ts'
import { errorResponse } from '../../src/http/errors.ts'
import { log } from '../../src/log.ts'
import type { SlackBot } from './bot.ts'

const failure = (code: ErrorCode, message: string) => errorResponse(new AppError(code, message))

export function slackEvents(bot: SlackBot | null | undefined) {
  const receiver = bot?.receiver ?? null
  return new Elysia().post(
    '/slack/events',
    async ({ request }) => {
      if (!receiver)
        return failure('NOT_FOUND', 'Slack events are not served over HTTP (Slack is off or in Socket Mode)')
      try {
        return await receiver.handle(request)
      } catch (err) {
        log.error({ err }, 'slack: request failed')
        return failure('INTERNAL', 'Internal server error')
      }
    },
    { parse: 'none' },
  )
}
