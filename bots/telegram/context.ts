// What every Telegram handler gets besides grammY's context: Parley's core, the base URL for
// links, and the Parley user this chat is linked to (null for an unlinked chat).
import type { Context } from 'grammy'
import type { Core } from '../../src/core/context.ts'

export type BotDeps = {
  core: Core
  /** Base of links to instance pages; known once the server listens. */
  baseUrl: () => string
  log: (message: string, err?: unknown) => void
}

export type BotContext = Context & { deps: BotDeps; linkedUserId: string | null }

export const LINK_HINT =
  'This chat is not linked to a Parley account yet. Get a one-time code from Parley ' +
  '(Settings, or `parley links code --channel telegram`) and send /start CODE here.'
