// createApp(deps) composes the Elysia plugins into the Parley HTTP app. No side effects: tests
// import it and call app.handle(new Request(...)); src/main.ts wires it to a real server.
import { Elysia } from 'elysia'
import { agentMcp, type McpOptions } from './agents/mcp.ts'
import { agentRest } from './agents/rest.ts'
import type { KeyVerifier } from './auth/api-keys.ts'
import type { Config } from './config.ts'
import type { Core } from './core/context.ts'
import type { Database } from './db/client.ts'
import { httpErrors } from './http/errors.ts'
import { health } from './http/health.ts'
import { metrics } from './http/metrics.ts'
import { webApp } from './web/index.ts'

export type AppDeps = {
  config: Config
  database: Database
  core: Core
  keys: KeyVerifier
  /** Aborted when the process begins a graceful stop: waiting requests answer and finish. */
  stopping: AbortSignal
  mcp?: McpOptions
  /** The Telegram bot's username, for t.me deep links on the settings page. */
  telegramBotUsername?: string
}

export function createApp(deps: AppDeps) {
  return new Elysia()
    .use(httpErrors)
    .use(health(deps))
    .use(metrics(deps))
    .use(agentRest(deps))
    .use(agentMcp(deps))
    .use(webApp(deps))
}

export type App = ReturnType<typeof createApp>
