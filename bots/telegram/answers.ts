// Answering from Telegram: a button press, a reply to a question (or to its reply prompt), or a
// bare message when exactly one question is open in the chat. With several open, the bot asks
// which one, with buttons, and never guesses. Every answer goes through core, where the first
// answer wins; a late one is told who answered first.
import { Composer } from 'grammy'
import type { Message } from 'grammy/types'
import { openQuestionsInChat, questionStatus } from '../../src/core/channel-links.ts'
import { postUserMessage } from '../../src/core/messages.ts'
import { parseQuestion } from '../../src/core/questions.ts'
import { hasCode } from '../../src/errors.ts'
import { instanceUrl } from '../../src/notify/jobs.ts'
import type { BotContext } from './context.ts'
import { pickerKeyboard } from './keyboards.ts'
import { answeredBy, decodeCallback, esc, questionIdFromLinks, questionLink } from './render.ts'

export const answers = new Composer<BotContext>()

type Outcome = { ok: boolean; text: string }

/** Posts `content` as the linked user's answer to `questionId`. */
async function answer(ctx: BotContext, questionId: string, content: string): Promise<Outcome> {
  const { core } = ctx.deps
  const before = await questionStatus(core.db, questionId, ctx.linkedUserId!)
  if (!before) return { ok: false, text: 'That question no longer exists.' }
  if (before.answered) return { ok: false, text: `Already answered by ${answeredBy(before)}.` }
  try {
    const result = await postUserMessage(core, {
      actorUserId: ctx.linkedUserId!,
      instanceId: before.instanceId,
      content,
      markAsRead: false,
      channel: 'telegram',
      questionId,
      allowShared: true,
    })
    if (result.alreadyAnswered) {
      const after = await questionStatus(core.db, questionId, ctx.linkedUserId!)
      return { ok: false, text: `Already answered by ${answeredBy(after ?? { by: null, via: null })}.` }
    }
    return { ok: true, text: 'Answer sent.' }
  } catch (err) {
    if (hasCode(err, 'FORBIDDEN', 'NOT_FOUND')) {
      return { ok: false, text: 'You cannot answer this question.' }
    }
    throw err
  }
}

answers.on('callback_query:data', async (ctx) => {
  const cb = decodeCallback(ctx.callbackQuery.data)
  let outcome: Outcome = { ok: false, text: 'This button is no longer valid.' }
  try {
    if (cb?.kind === 'answer') {
      const status = await questionStatus(ctx.deps.core.db, cb.questionId, ctx.linkedUserId!)
      const option = status?.options?.[cb.option]
      if (option !== undefined) outcome = await answer(ctx, cb.questionId, option)
      else if (status) outcome = { ok: false, text: 'That option does not exist.' }
    } else if (cb?.kind === 'reply') {
      outcome = await promptForReply(ctx, cb.questionId)
    } else if (cb?.kind === 'pick') {
      const text = ctx.callbackQuery.message?.reply_to_message?.text
      if (text) {
        outcome = await answer(ctx, cb.questionId, text)
        if (outcome.ok) await ctx.editMessageText(`✅ Sent as the answer.`).catch(() => {})
      } else outcome = { ok: false, text: 'I lost that message; please send it again.' }
    }
  } finally {
    // Telegram shows a spinner on the button until this is called, so it always is.
    await ctx.answerCallbackQuery({
      text: outcome.text,
      show_alert: !outcome.ok && outcome.text.startsWith('Already'),
    })
  }
})

async function promptForReply(ctx: BotContext, questionId: string): Promise<Outcome> {
  const status = await questionStatus(ctx.deps.core.db, questionId, ctx.linkedUserId!)
  if (!status) return { ok: false, text: 'That question no longer exists.' }
  if (status.answered) return { ok: false, text: `Already answered by ${answeredBy(status)}.` }
  const link = questionLink(instanceUrl(ctx.deps.baseUrl(), status.instanceId), questionId)
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
    const outcome = await answer(ctx, questionId, ctx.message.text)
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
    const outcome = await answer(ctx, open[0]!.id, ctx.message.text)
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
