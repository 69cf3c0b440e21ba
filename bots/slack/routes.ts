// POST /slack/events: events, interactivity and slash commands, served by Parley's own HTTP
// server. The body is left unparsed (`parse: 'none'`) because the signature covers the raw bytes;
// the plugin is mounted ahead of the shared body parser and answers its own errors.
import { Elysia } from 'elysia'
import { AppError, errorBody } from '../../src/errors.ts'
import type { SlackBot } from './bot.ts'

const failure = (status: number, code: string, message: string) =>
  Response.json(errorBody(new AppError(code, status, message)), { status })

export function slackEvents(bot: SlackBot | null | undefined) {
  const receiver = bot?.receiver ?? null
  return new Elysia().post(
    '/slack/events',
    async ({ request }) => {
      if (!receiver)
        return failure(
          404,
          'NOT_FOUND',
          'Slack events are not served over HTTP (Slack is off or in Socket Mode)',
        )
      try {
        return await receiver.handle(request)
      } catch (err) {
        console.error('slack: request failed', err)
        return failure(500, 'INTERNAL', 'Internal server error')
      }
    },
    { parse: 'none' },
  )
}
