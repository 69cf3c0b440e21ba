// `/parley link CODE | unlink | status | help`, also understood as a DM to the bot ("link CODE").
// Replies are ephemeral: only the person who typed the command sees them.
import type { App } from '@slack/bolt'
import { linkChat, openQuestions, unlink } from '../../src/core/links.ts'
import { instanceUrl } from '../../src/notify/jobs.ts'
import { escapeMrkdwn } from './blocks.ts'
import {
  identity,
  LINK_HINT,
  parleyUser,
  type SlackContext,
  type SlackIdentity,
  slackChat,
} from './context.ts'

const USAGE = 'Usage: `/parley link CODE`, `/parley unlink`, `/parley status`.'

/** A DM that is a command rather than an answer. */
export const DM_COMMAND = /^\s*(link\s+\S+|unlink|status|help)\s*$/i

export async function runCommand(
  ctx: SlackContext,
  who: SlackIdentity | null,
  text: string,
): Promise<string> {
  const [verb = '', code] = text.trim().split(/\s+/)
  if (!who) return LINK_HINT
  if (verb.toLowerCase() === 'link') {
    if (!code) return USAGE
    const userId = await linkChat(ctx.core.db, code, slackChat(who))
    return userId
      ? 'Linked: questions from your agents will arrive here. `/parley status` lists the open ones.'
      : 'That code is unknown, already used or expired. Get a new one and try again.'
  }
  const userId = await parleyUser(ctx, who)
  if (!userId) return LINK_HINT
  switch (verb.toLowerCase()) {
    case 'unlink':
      await unlink(ctx.core.db, slackChat(who))
      return 'Unlinked: this Slack account no longer receives or answers Parley questions.'
    case 'status':
      return statusText(ctx, userId)
    default:
      return USAGE
  }
}

async function statusText(ctx: SlackContext, userId: string): Promise<string> {
  const open = await openQuestions(ctx.core.db, { userId })
  if (open.length === 0) return 'No open questions.'
  const lines = open.map((q) => {
    const who = q.instanceName ? `${q.agentType} · ${q.instanceName}` : q.agentType
    const text = q.question.length > 200 ? `${q.question.slice(0, 199)}…` : q.question
    return `• *${escapeMrkdwn(who)}*: ${escapeMrkdwn(text)} <${instanceUrl(ctx.baseUrl(), q.instanceId)}|open>`
  })
  return `${open.length} open question${open.length === 1 ? '' : 's'}:\n${lines.join('\n')}`
}

export function registerCommands(app: App, ctx: SlackContext): void {
  app.command('/parley', async ({ command, ack, respond }) => {
    await ack()
    const text = await runCommand(ctx, identity(command.team_id, command.user_id), command.text)
    await respond({ response_type: 'ephemeral', text })
  })
}
