// Answering from Telegram: a button press, a reply to a question (or to its reply prompt), or a
// bare message when exactly one question is open in the chat. With several open, the bot asks
// which one, with buttons, and never guesses. A message that answers no question is the person's
// message to an agent: a reply to an instance's status message goes to that instance, a bare one
// to the only running agent, or the bot asks which. Everything goes through core, where the first
// answer wins (a late one is told who answered first) and who may write to an instance is checked.
import { Composer } from 'grammy'
import type { Message } from 'grammy/types'
import { answerNotice } from '../../src/core/answer-wording.ts'
import { type AnswerInput, answerQuestion, questionToAnswer } from '../../src/core/answers.ts'
import { activeInstances } from '../../src/core/chat-status.ts'
import { answerPath } from '../../src/core/context.ts'
import { copyOf, openQuestions } from '../../src/core/links.ts'
import { instanceUrl } from '../../src/notify/jobs.ts'
import type { BotContext } from './context.ts'
import { instancePickerKeyboard, pickerKeyboard } from './keyboards.ts'
import { telegramChat } from './linking.ts'
import { decodeCallback, esc, instanceLabel, questionIdFromLinks, questionLink } from './render.ts'

export const answers = new Composer<BotContext>()

/** What the person is told; `alert` when someone else was first (a popup they must dismiss). */
type Outcome = { ok: boolean; text: string; alert?: boolean }

/** A question to answer, or an instance the person's message is for (`to` names it when it went). */
type Target = { questionId: string } | { instanceId: string; to: string }

/** Answers as the linked user; what core says about it is what the person hears. */
async function answer(ctx: BotContext, target: Target, given: AnswerInput['answer']): Promise<Outcome> {
  const result = await answerQuestion(ctx.deps.core, {
    ...('questionId' in target ? { questionId: target.questionId } : { instanceId: target.instanceId }),
    actorUserId: ctx.linkedUserId!,
    answer: given,
    channel: 'telegram',
    allowShared: true,
  })
  const notice = answerNotice(result)
  if (notice === null) return { ok: true, text: 'to' in target ? `Sent to ${target.to}.` : 'Answer sent.' }
  return { ok: false, text: notice, alert: result.status === 'already' || result.status === 'closed' }
}

const toInstance = (i: { id: string; name: string | null; agentType: string }): Target => ({
  instanceId: i.id,
  to: instanceLabel(i),
})

answers.on('callback_query:data', async (ctx) => {
  const cb = decodeCallback(ctx.callbackQuery.data)
  let outcome: Outcome = { ok: false, text: 'This button is no longer valid.' }
  try {
    if (cb?.kind === 'answer') {
      outcome = await answer(ctx, cb, { option: cb.option })
    } else if (cb?.kind === 'reply') {
      outcome = await promptForReply(ctx, cb.questionId)
    } else if (cb?.kind === 'pick' || cb?.kind === 'steer') {
      // The picker replies to the person's message: that message is what gets sent.
      const picker = ctx.callbackQuery.message
      const text = picker?.reply_to_message?.text
      const pressed = picker?.reply_markup?.inline_keyboard
        .flat()
        .find((b) => 'callback_data' in b && b.callback_data === ctx.callbackQuery.data)?.text
      const target = cb.kind === 'pick' ? cb : { instanceId: cb.instanceId, to: pressed ?? 'the agent' }
      if (text) {
        outcome = await answer(ctx, target, { text })
        const done = cb.kind === 'pick' ? '✅ Sent as the answer.' : `✅ ${outcome.text}`
        if (outcome.ok) await ctx.editMessageText(done).catch(() => {})
      } else outcome = { ok: false, text: 'I lost that message; please send it again.' }
    }
  } finally {
    // Telegram shows a spinner on the button until this is called, so it always is (text: 200 chars).
    await ctx.answerCallbackQuery({ text: outcome.text.slice(0, 200), show_alert: outcome.alert ?? false })
  }
})

async function promptForReply(ctx: BotContext, questionId: string): Promise<Outcome> {
  const q = await questionToAnswer(ctx.deps.core, ctx.linkedUserId!, questionId)
  if (q.status !== 'open') return { ok: false, text: answerNotice(q)!, alert: q.status !== 'refused' }
  const link = questionLink(instanceUrl(ctx.deps.baseUrl(), q.instanceId), questionId)
  const origin = ctx.callbackQuery?.message?.message_id
  await ctx.reply(`✍️ Reply to this message with your answer. <a href="${esc(link)}">Question</a>`, {
    parse_mode: 'HTML',
    link_preview_options: { is_disabled: true },
    reply_markup: { force_reply: true, input_field_placeholder: 'Your answer' },
    ...(origin ? { reply_parameters: { message_id: origin, allow_sending_without_reply: true } } : {}),
  })
  return { ok: true, text: 'Write your answer as a reply.' }
}

/**
 * What a reply to one of the bot's messages is for: the question a copy or reply prompt links to,
 * or the instance whose status message it is. Null for anything else.
 */
async function repliedTarget(ctx: BotContext, replied: Message | undefined): Promise<Target | null> {
  if (!replied || replied.from?.id !== ctx.me.id) return null
  const urls = (replied.entities ?? []).flatMap((e) => (e.type === 'text_link' ? [e.url] : []))
  const questionId = questionIdFromLinks(urls)
  if (questionId) return { questionId }
  const copy = await copyOf(answerPath(ctx.deps.core), 'telegram', {
    chat_id: String(replied.chat.id),
    message_id: replied.message_id,
  })
  if (!copy) return null
  return copy.questionId
    ? { questionId: copy.questionId }
    : toInstance({ id: copy.instanceId, name: copy.instanceName, agentType: copy.agentType })
}

answers.on('message:text', async (ctx) => {
  if (ctx.message.text.startsWith('/')) {
    await ctx.reply('Unknown command. /help lists what I understand.')
    return
  }
  const text = ctx.message.text
  const inReply = { reply_parameters: { message_id: ctx.message.message_id } }
  const send = async (target: Target, sent?: string) => {
    const outcome = await answer(ctx, target, { text })
    await ctx.reply(outcome.ok ? `✅ ${sent ?? outcome.text}` : outcome.text, inReply)
  }
  const replied = await repliedTarget(ctx, ctx.message.reply_to_message)
  if (replied) return send(replied)
  const { db } = ctx.deps.core
  const userId = ctx.linkedUserId!
  const open = await openQuestions(db, { userId, chat: telegramChat(ctx.chat.id) })
  if (open.length === 1) {
    return send({ questionId: open[0]!.id }, `Sent as the answer to “${open[0]!.question.slice(0, 100)}”.`)
  }
  if (open.length > 1) {
    await ctx.reply(`${open.length} questions are open. Which one does this answer?`, {
      reply_markup: pickerKeyboard(open),
      ...inReply,
    })
    return
  }
  // No question is waiting: the message is for an agent, and which one is never guessed.
  const live = await activeInstances(db, userId)
  if (live.length === 1) return send(toInstance(live[0]!))
  if (live.length === 0) {
    await ctx.reply(
      'No question is waiting and none of your agents is running, so nothing was sent. /status shows what your agents are doing.',
      inReply,
    )
    return
  }
  await ctx.reply(`${live.length} agents are running. Which one is this message for?`, {
    reply_markup: instancePickerKeyboard(live),
    ...inReply,
  })
})

// Photos, stickers, voice: nothing to answer with.
answers.on('message', (ctx) => ctx.reply('I can only take text answers. Reply with text, or use a button.'))
