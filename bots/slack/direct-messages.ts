// Messages people write to the bot in their DM: commands ("link CODE"), replies in a question's
// thread (which answer that question), and bare messages, which answer the only open question and
// never guess when several are open.
import type { App } from '@slack/bolt'
import { answerQuestion } from '../../src/core/answers.ts'
import { openQuestions, questionOfCopy } from '../../src/core/chat-answers.ts'
import { outcomeText } from './answering.ts'
import { escapeMrkdwn, unescapeMrkdwn } from './blocks.ts'
import { DM_COMMAND, runCommand } from './commands.ts'
import { identity, LINK_HINT, parleyUser, type SlackContext } from './context.ts'

type DirectMessage = {
  channel: string
  channel_type?: string
  user?: string
  text?: string
  ts: string
  thread_ts?: string
  subtype?: string
  bot_id?: string
}

export const SEVERAL_OPEN = 'Several questions are open: reply in the thread of the one you are answering.'

async function questionFor(ctx: SlackContext, userId: string, m: DirectMessage): Promise<string | string[]> {
  if (m.thread_ts && m.thread_ts !== m.ts) {
    const id = await questionOfCopy(ctx.core.db, 'slack', { channel: m.channel, ts: m.thread_ts })
    if (id) return id
  }
  const open = await openQuestions(ctx.core.db, userId)
  return open.length === 1 ? open[0]!.id : open.map((q) => q.question)
}

export function registerDirectMessages(app: App, ctx: SlackContext): void {
  app.event('message', async ({ event, body, client }) => {
    const m = event as unknown as DirectMessage
    if (m.channel_type !== 'im' || m.subtype || m.bot_id || !m.user) return
    const say = (text: string) => client.chat.postEphemeral({ channel: m.channel, user: m.user!, text })
    const who = identity((body as { team_id?: string }).team_id, m.user)
    const text = unescapeMrkdwn(m.text ?? '')
    if (DM_COMMAND.test(text)) return void (await say(await runCommand(ctx, who, text)))
    const userId = await parleyUser(ctx, who)
    if (!userId) return void (await say(LINK_HINT))
    if (!text.trim()) return
    const target = await questionFor(ctx, userId, m)
    if (Array.isArray(target)) {
      if (target.length === 0) return void (await say('No open questions to answer.'))
      const list = target.map((q) => `• ${escapeMrkdwn(q.length > 150 ? `${q.slice(0, 149)}…` : q)}`)
      return void (await say(`${SEVERAL_OPEN}\n${list.join('\n')}`))
    }
    const result = await answerQuestion(ctx.core, {
      actorUserId: userId,
      questionId: target,
      answer: { text: text.trim() },
      channel: 'slack',
      allowShared: true,
    })
    const problem = outcomeText(result)
    if (problem) await say(problem)
  })
}
