// Linking a chat to a Parley user (/start CODE, the deep link Parley shows), unlinking, help,
// and /status. Any other update from an unlinked chat gets a short "link your account" answer
// and goes no further.
import { Composer } from 'grammy'
import { activeInstances } from '../../src/core/chat-status.ts'
import { answerPath } from '../../src/core/context.ts'
import { type ChatAddress, linkChat, linkedUser, openQuestions, unlink } from '../../src/core/links.ts'
import { instanceUrl } from '../../src/notify/jobs.ts'
import { type BotContext, LINK_HINT } from './context.ts'
import { esc, questionLink } from './render.ts'

export const HELP = [
  '<b>Parley</b> sends you your agents’ questions here.',
  '',
  'Answer with a button, by replying to a question, or just by writing when one question is open.',
  'With no question open, what you write goes to your agent (reply to its status message to pick one).',
  '/status – open questions and running agents',
  '/unlink – stop sending to this chat',
  '/help – this message',
].join('\n')

/** A Telegram chat as a linked chat: deliveries go to the chat id. */
export const telegramChat = (chatId: number | string): ChatAddress => ({
  channel: 'telegram',
  target: String(chatId),
  chatId: String(chatId),
})

export const linking = new Composer<BotContext>()

linking.command('start', async (ctx) => {
  const code = ctx.match.trim()
  if (!code) {
    await ctx.reply(ctx.linkedUserId ? HELP : LINK_HINT, {
      parse_mode: ctx.linkedUserId ? 'HTML' : undefined,
    })
    return
  }
  const userId = await linkChat(ctx.deps.core.db, code, telegramChat(ctx.chat.id))
  if (!userId) {
    await ctx.reply('That code is unknown, used or expired. Ask Parley for a new one.')
    return
  }
  await ctx.reply(`Linked. Your agents’ questions will arrive here.\n\n${HELP}`, { parse_mode: 'HTML' })
})

linking.command('help', (ctx) => ctx.reply(HELP, { parse_mode: 'HTML' }))

// Everything below needs a linked chat.
linking.use(async (ctx, next) => {
  // A button press on an old message may come without it; in a private chat the chat is the user.
  const chatId = ctx.chat?.id ?? ctx.from?.id
  if (chatId !== undefined) {
    const link = await linkedUser(answerPath(ctx.deps.core), telegramChat(chatId))
    if (link?.active) ctx.linkedUserId = link.userId
  }
  if (ctx.linkedUserId) return next()
  if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: 'This chat is not linked to Parley.' })
  else if (ctx.chat) await ctx.reply(LINK_HINT)
})

linking.command('unlink', async (ctx) => {
  await unlink(ctx.deps.core.db, telegramChat(ctx.chat.id))
  await ctx.reply('Unlinked. Parley will not send anything more to this chat.')
})

linking.command('status', async (ctx) => {
  const { db } = ctx.deps.core
  const [open, active] = await Promise.all([
    openQuestions(db, { userId: ctx.linkedUserId!, chat: telegramChat(ctx.chat.id) }),
    activeInstances(db, ctx.linkedUserId!),
  ])
  const lines = [`<b>Open questions</b> (${open.length})`]
  for (const q of open.slice(0, 10)) {
    const url = questionLink(instanceUrl(ctx.deps.baseUrl(), q.instanceId), q.id)
    lines.push(`• <a href="${esc(url)}">${esc(q.agentType)}</a>: ${esc(q.question.slice(0, 120))}`)
  }
  lines.push('', `<b>Active agents</b> (${active.length})`)
  for (const i of active) {
    const url = instanceUrl(ctx.deps.baseUrl(), i.id)
    const waiting = i.status === 'AWAITING_INPUT' ? ' – waiting for you' : ''
    lines.push(
      `• <a href="${esc(url)}">${esc(i.agentType)}${i.name ? ` · ${esc(i.name)}` : ''}</a>${waiting}`,
    )
  }
  await ctx.reply(lines.join('\n'), { parse_mode: 'HTML', link_preview_options: { is_disabled: true } })
})
