// What every Slack handler needs: the core, the dashboard's base URL for links, and who a Slack
// user is in Parley. Someone who has not linked their account is told how, and nothing else happens.
import { answerPath, type Core } from '../../src/core/context.ts'
import { type ChatAddress, linkedUser } from '../../src/core/links.ts'

export type SlackIdentity = { teamId: string; slackUserId: string }

export type SlackContext = {
  core: Core
  /** `PUBLIC_URL`, or http://localhost:PORT once the server listens. */
  baseUrl: () => string
  log: (message: string, err?: unknown) => void
}

export const LINK_HINT =
  'Link your Parley account first: get a code with `parley links code --email YOU --channel slack` ' +
  '(or from Settings in Parley), then send `/parley link CODE` here.'

export const instanceUrl = (ctx: SlackContext, instanceId: string) =>
  `${ctx.baseUrl()}/instances/${instanceId}`

/** Team + user id of whoever sent an interaction, event or command. */
export function identity(teamId: string | undefined | null, slackUserId: string | undefined | null) {
  return teamId && slackUserId ? ({ teamId, slackUserId } satisfies SlackIdentity) : null
}

/** A Slack user as a linked chat: deliveries go to "team:user", whose DM the adapter opens. */
export const slackChat = (who: SlackIdentity): ChatAddress => ({
  channel: 'slack',
  target: `${who.teamId}:${who.slackUserId}`,
  teamId: who.teamId,
  externalUserId: who.slackUserId,
})

/** The Parley user behind a Slack user; an inactive link still says who someone is. */
export async function parleyUser(ctx: SlackContext, who: SlackIdentity | null): Promise<string | null> {
  return who ? ((await linkedUser(answerPath(ctx.core), slackChat(who)))?.userId ?? null) : null
}
