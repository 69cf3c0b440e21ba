// Answering from Telegram: a button press, a reply to a question (or to its reply prompt), or a
// bare message when exactly one question is open in the chat. With several open, the bot asks
// which one, with buttons, and never guesses. Every answer goes through core, where the first
// answer wins; a late one is told who answered first.
import { Composer } from 'grammy'
import type { Message } from 'grammy/types'
import { type AnswerInput, answerNotice, answerQuestion, questionToAnswer } from '../../src/core/answers.ts'
import { openQuestionsInChat } from '../../src/core/channel-links.ts'
import { parseQuestion } from '../../src/core/questions.ts'
import { instanceUrl } from '../../src/notify/jobs.ts'
import type { BotContext } from './context.ts'
import { pickerKeyboard } from './keyboards.ts'
import { decodeCallback, esc, questionIdFromLinks, questionLink } from './render.ts'

export const answers = new Composer<BotContext>()

/** What the person is told; `alert` when someone else was first (a popup they must dismiss). */
type Outcome = { ok: boolean; text: string; alert?: boolean }

/** Answers `questionId` as the linked user; what core says about it is what the person hears. */
async function answer(ctx: BotContext, questionId: string, given: AnswerInput['answer']): Promise<Outcome> {
  const result = await answerQuestion(ctx.deps.core, {
    actorUserId: ctx.linkedUserId!,
    questionId,
    answer: given,
    channel: 'telegram',
    allowShared: true,
  })
  const notice = answerNotice(result)
  if (notice === null) return { ok: true, text: 'Answer sent.' }
  return { ok: false, text: notice, alert: result.status === 'already' || result.status === 'closed' }
}

answers.on('callback_query:data', async (ctx) => {
  const cb = decodeCallback(ctx.callbackQuery.data)
  let outcome: Outcome = { ok: false, text: 'This button is no longer valid.' }
  try {
    if (cb?.kind === 'answer') {
      outcome = await answer(ctx, cb.questionId, { option: cb.option })
    } else if (cb?.kind === 'reply') {
      outcome = await promptForReply(ctx, cb.questionId)
    } else if (cb?.kind === 'pick') {
      const text = ctx.callbackQuery.message?.reply_to_message?.text
      if (text) {
        outcome = await answer(ctx, cb.questionId, { text })
        if (outcome.ok) await ctx.editMessageText(`✅ Sent as the answer.`).catch(() => {})
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

/** The question a message replies to, when it replies to one of our question copies or prompts. */
function repliedQuestion(ctx: BotContext, replied: Message | undefined): string | null {
  if (!replied || replied.from?.id !== ctx.me.id) return null
  const urls = (replied.entities ?? []).flatMap((e) => (e.type === 'text_link' ? [e.url] : []))
  return questionIdFromLinks(urls)
}

answers.on('message:text', async (ctx) => {
  if (ctx.message.text.startsWith('/')) {
    await ctx.reply('Unknown command. /help lists what I understand.')
    return
  }
  const replyTo = ctx.message.reply_to_message
  const questionId = repliedQuestion(ctx, replyTo)
  if (questionId) {
    const outcome = await answer(ctx, questionId, { text: ctx.message.text })
    await ctx.reply(outcome.ok ? '✅ Answer sent.' : outcome.text, {
      reply_parameters: { message_id: ctx.message.message_id },
    })
    return
  }
  const open = await openQuestionsInChat(ctx.deps.core.db, 'telegram', String(ctx.chat.id))
  if (open.length === 0) {
    await ctx.reply('No question is waiting for an answer here. /status shows what your agents are doing.')
    return
  }
  if (open.length === 1) {
    const outcome = await answer(ctx, open[0]!.id, { text: ctx.message.text })
    const q = parseQuestion(open[0]!.content, open[0]!.options).text
    await ctx.reply(outcome.ok ? `✅ Sent as the answer to “${q.slice(0, 100)}”.` : outcome.text, {
      reply_parameters: { message_id: ctx.message.message_id },
    })
    return
  }
  await ctx.reply(`${open.length} questions are open. Which one does this answer?`, {
    reply_markup: pickerKeyboard(open),
    reply_parameters: { message_id: ctx.message.message_id },
  })
})

// Photos, stickers, voice: nothing to answer with.
answers.on('message', (ctx) => ctx.reply('I can only take text answers. Reply with text, or use a button.'))
