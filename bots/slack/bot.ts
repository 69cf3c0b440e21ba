// The one Bolt app: HTTP events through ElysiaReceiver (POST /slack/events on Parley's own
// server), or Socket Mode when SLACK_APP_TOKEN is set. Without SLACK_BOT_TOKEN there is no bot and
// Parley runs without Slack. The outbox sends through `adapter`, which shares the Web API client.
import { App, LogLevel, webApi } from '@slack/bolt'
import type { Config } from '../../src/config.ts'
import { answerPath, type Core } from '../../src/core/context.ts'
import { firstTimeSeen } from '../../src/core/processed-updates.ts'
import { logError } from '../../src/log.ts'
import { SlackAdapter } from './adapter.ts'
import { registerAnswering } from './answering.ts'
import { registerCommands } from './commands.ts'
import type { SlackContext } from './context.ts'
import { registerDirectMessages } from './direct-messages.ts'
import { slackLogger } from './logger.ts'
import { ElysiaReceiver } from './receiver.ts'
import { webClientOptions } from './web-client.ts'

export type SlackBot = {
  app: App
  /** Null in Socket Mode: nothing is served over HTTP then. */
  receiver: ElysiaReceiver | null
  adapter: SlackAdapter
  start(): Promise<void>
  stop(): Promise<void>
}

export type SlackDeps = {
  config: Config
  core: Core
  baseUrl: () => string
  log?: SlackContext['log']
}

export function createSlackBot(deps: SlackDeps): SlackBot | null {
  const { botToken, signingSecret, appToken } = deps.config.slack
  if (!botToken || (!signingSecret && !appToken)) return null
  const log = deps.log ?? logError('slack')
  const clientOptions = webClientOptions(deps.config)
  const client = new webApi.WebClient(botToken, clientOptions)

  // Who the bot is (so its own messages are ignored), asked once, again only after a failure.
  let self: Promise<{ botUserId?: string; botId?: string }> | null = null
  const authorize = async () => {
    self ??= client.auth.test().then(
      (r) => ({ botUserId: r.user_id, botId: r.bot_id }),
      (err) => {
        self = null
        throw err
      },
    )
    return { botToken, ...(await self) }
  }

  const receiver =
    appToken === null
      ? new ElysiaReceiver({
          signingSecret: signingSecret!,
          firstSeen: (eventId) => firstTimeSeen(answerPath(deps.core), 'slack', eventId),
          onError: (err) => log('event failed', err),
        })
      : null
  const app = new App({
    authorize,
    clientOptions,
    logLevel: deps.config.logLevel === 'debug' ? LogLevel.DEBUG : LogLevel.ERROR,
    logger: slackLogger(),
    // Parley keeps its state in the database; Bolt's in-memory conversation store would only grow.
    convoStore: false,
    // The Socket Mode client opens its connection with its own Web API client: same options.
    ...(receiver
      ? { receiver }
      : { socketMode: true, appToken: appToken!, installerOptions: { clientOptions } }),
  })
  app.error(async (err) => log('handler failed', err))

  const ctx: SlackContext = { core: deps.core, baseUrl: deps.baseUrl, log }
  registerCommands(app, ctx)
  registerAnswering(app, ctx)
  registerDirectMessages(app, ctx)

  return {
    app,
    receiver,
    adapter: new SlackAdapter(client),
    start: async () => {
      if (!receiver) await app.start()
    },
    stop: async () => {
      await app.stop()
    },
  }
}
