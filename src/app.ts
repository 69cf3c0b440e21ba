// createApp(deps) composes the Elysia plugins into the Parley HTTP app. No side effects: tests
// import it and call app.handle(new Request(...)); src/main.ts wires it to a real server.
import { Elysia } from 'elysia'
import type { SlackBot } from '../bots/slack/bot.ts'
import { slackEvents } from '../bots/slack/routes.ts'
import type { Telegram } from '../bots/telegram/runner.ts'
import { telegramWebhook } from '../bots/telegram/webhook-route.ts'
import { agentHooks } from './agents/hooks.ts'
import { agentMcp, type McpOptions } from './agents/mcp.ts'
import { agentRest } from './agents/rest.ts'
import type { KeyVerifier } from './auth/api-keys.ts'
import type { Config } from './config.ts'
import type { Core } from './core/context.ts'
import type { Database } from './db/client.ts'
import { httpErrors } from './http/errors.ts'
import { health } from './http/health.ts'
import { metrics } from './http/metrics.ts'
import { requestObservation } from './http/requests.ts'
import { securityHeaders } from './http/security-headers.ts'
import type { RelayOptions } from './relay/hub.ts'
import { relayRoutes } from './relay/routes.ts'
import { webApp } from './web/index.ts'
import type { PushDeps } from './web/push.ts'

export type AppDeps = {
  config: Config
  database: Database
  core: Core
  keys: KeyVerifier
  /** Aborted when the process begins a graceful stop: waiting requests answer and finish. */
  stopping: AbortSignal
  mcp?: McpOptions
  /** The Slack bot when SLACK_BOT_TOKEN is set; POST /slack/events is served by it. */
  slack?: SlackBot | null
  /** The Telegram bot when TELEGRAM_BOT_TOKEN is set; its webhook route needs PUBLIC_URL. */
  telegram?: Telegram | null
  /** The Telegram bot's username, for t.me deep links on the settings page (default: the bot's). */
  telegramBotUsername?: string
  /** Relay tuning (tests use small bounds); the defaults are in src/relay/hub.ts. */
  relay?: Partial<RelayOptions>
  /** Web push (GET /push/key, subscriptions, answer links); absent in apps built without it. */
  push?: PushDeps
}

export function createApp(deps: AppDeps) {
  return (
    // 'typebox' validates before it strips unknown fields; the default mirror turned a string given
    // for an object (message_metadata: "x") into {"0":"x"} and let it through.
    new Elysia({ normalize: 'typebox' })
      .use(securityHeaders(deps.config))
      .use(requestObservation)
      // Before httpErrors: its body parser must not run on a route that verifies the raw body,
      // nor refuse what a chat platform would only send again (bots/telegram/webhook-route.ts).
      .use(slackEvents(deps.slack))
      .use(telegramWebhook(deps))
      .use(httpErrors)
      .use(health(deps))
      .use(metrics(deps))
      .use(agentRest(deps))
      .use(agentMcp(deps))
      .use(agentHooks(deps))
      .use(relayRoutes(deps))
      .use(
        webApp({
          ...deps,
          telegramBotUsername: deps.telegramBotUsername ?? deps.telegram?.bot.botInfo.username,
        }),
      )
  )
}

export type App = ReturnType<typeof createApp>
