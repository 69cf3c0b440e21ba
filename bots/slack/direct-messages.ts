// Messages people write to the bot in their DM: commands ("link CODE"), replies in a question's
// thread (which answer that question), and bare messages, which answer the only open question and
// never guess when several are open. A message that answers no question is the person's message
// to an agent: a reply in an instance's status thread goes to that instance, a bare one to the
// only running agent, or the bot asks which with buttons. Core checks who may write to it.
import type { App } from '@slack/bolt'
import { answerQuestion } from '../../src/core/answers.ts'
import { activeInstances } from '../../src/core/chat-status.ts'
import { answerPath } from '../../src/core/context.ts'
import { copyOf, openQuestions } from '../../src/core/links.ts'
import { outcomeText } from './answering.ts'
import {
  agentPicker,
  escapeMrkdwn,
  instanceLabel,
  parseSteerValue,
  STEER_ACTION,
  unescapeMrkdwn,
} from './blocks.ts'
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
export const NOTHING_RUNNING =
  'No question is waiting and none of your agents is running, so nothing was sent.'

/** A question to answer, or an instance to send the message to (named in the confirmation). */
type Target = { questionId: string } | { instanceId: string; to: string }

/** Sends the text as the person; returns what to tell them (null: an answer that needs no word). */
async function deliver(ctx: SlackContext, userId: string, target: Target, text: string) {
  const result = await answerQuestion(ctx.core, {
    ...('questionId' in target ? { questionId: target.questionId } : { instanceId: target.instanceId }),
    actorUserId: userId,
    answer: { text },
    channel: 'slack',
    allowShared: true,
  })
  const problem = outcomeText(result)
  if (problem || !('to' in target)) return problem
  return `Sent to *${escapeMrkdwn(target.to)}*.`
}

const toInstance = (i: { id: string; name: string | null; agentType: string }): Target => ({
  instanceId: i.id,
  to: instanceLabel(i),
})

/** Where a message goes, or what to show instead (a list, a picker, a refusal). */
async function targetOf(
  ctx: SlackContext,
  userId: string,
  m: DirectMessage,
): Promise<Target | { say: string; picker?: ReturnType<typeof agentPicker> }> {
  if (m.thread_ts && m.thread_ts !== m.ts) {
    const copy = await copyOf(answerPath(ctx.core), 'slack', { channel: m.channel, ts: m.thread_ts })
    if (copy?.questionId) return { questionId: copy.questionId }
    if (copy) return toInstance({ id: copy.instanceId, name: copy.instanceName, agentType: copy.agentType })
  }
  const open = await openQuestions(ctx.core.db, { userId })
  if (open.length === 1) return { questionId: open[0]!.id }
  if (open.length > 1) {
    const list = open.map(
      (q) => `• ${escapeMrkdwn(q.question.length > 150 ? `${q.question.slice(0, 149)}…` : q.question)}`,
    )
    return { say: `${SEVERAL_OPEN}\n${list.join('\n')}` }
  }
  const live = await activeInstances(ctx.core.db, userId)
  if (live.length === 1) return toInstance(live[0]!)
  if (live.length === 0) return { say: NOTHING_RUNNING }
  const picker = agentPicker(live, m.ts)
  return { say: picker.text, picker }
}

type ActionBody = {
  user: { id: string; team_id?: string }
  team?: { id: string } | null
  channel?: { id: string }
  container?: { channel_id?: string }
}

export function registerDirectMessages(app: App, ctx: SlackContext): void {
  app.event('message', async ({ event, body, client }) => {
    const m = event as unknown as DirectMessage
    if (m.channel_type !== 'im' || m.subtype || m.bot_id || !m.user) return
    const say = (text: string, extra = {}) =>
      client.chat.postEphemeral({ channel: m.channel, user: m.user!, text, ...extra })
    const who = identity((body as { team_id?: string }).team_id, m.user)
    const text = unescapeMrkdwn(m.text ?? '')
    if (DM_COMMAND.test(text)) return void (await say(await runCommand(ctx, who, text)))
    const userId = await parleyUser(ctx, who)
    if (!userId) return void (await say(LINK_HINT))
    if (!text.trim()) return
    const target = await targetOf(ctx, userId, m)
    if ('say' in target) return void (await say(target.say, target.picker ?? {}))
    const reply = await deliver(ctx, userId, target, text.trim())
    if (reply) await say(reply)
  })

  // A button of the agent picker: the message it carries is read back from the DM (only the
  // person's own message counts), then sent to the instance picked.
  app.action(STEER_ACTION, async ({ ack, body, action, respond, client }) => {
    await ack()
    const b = body as ActionBody
    const say = (text: string) => respond({ response_type: 'ephemeral', replace_original: true, text })
    const who = identity(b.team?.id ?? b.user.team_id, b.user.id)
    const userId = await parleyUser(ctx, who)
    if (!userId) return void (await say(LINK_HINT))
    const value = 'value' in action && typeof action.value === 'string' ? action.value : ''
    const ref = parseSteerValue(value)
    const channel = b.channel?.id ?? b.container?.channel_id
    const history =
      ref && channel
        ? await client.conversations.history({ channel, latest: ref.ts, inclusive: true, limit: 1 })
        : null
    const message = history?.messages?.find((m) => m.ts === ref?.ts && m.user === b.user.id)
    if (!ref || !message?.text) return void (await say('I lost that message; please send it again.'))
    const label = 'text' in action && action.text ? String(action.text.text) : 'the agent you picked'
    const reply = await deliver(
      ctx,
      userId,
      { instanceId: ref.instanceId, to: label },
      unescapeMrkdwn(message.text).trim(),
    )
    if (reply) await say(reply)
  })
}
