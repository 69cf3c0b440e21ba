// The Telegram channel of the outbox: sends questions with their buttons, edits every copy once
// the question is answered, and keeps one quiet status message per instance. Telegram's errors
// are sorted for the outbox: 429 and 5xx and network failures retry, a blocked bot or a missing
// chat is permanent and deactivates the link.
import { type Api, GrammyError, HttpError } from 'grammy'
import { type ChatChannel, type DeliveryJob, type SendResult, sendByKind } from '../../src/notify/channel.ts'
import { TELEGRAM_CHANNEL } from './channel.ts'
import { optionsKeyboard } from './keyboards.ts'
import { endedNote, lockedText, progressText, questionText } from './render.ts'

export { TELEGRAM_CHANNEL }

/** Where a copy lives: the chat and the message id Telegram gave it. */
export type TelegramRef = { chat_id: string; message_id: number; ended?: boolean }

/** Telegram's limits: about one message a second per chat, 30 a second per bot. */
export const TELEGRAM_PACING = { perTargetMs: 1000, perSecond: 30 }

const html = { parse_mode: 'HTML' as const, link_preview_options: { is_disabled: true } }

const notModified = (err: unknown) =>
  err instanceof GrammyError && err.error_code === 400 && /not modified/i.test(err.description)

const editTargetGone = (err: unknown) =>
  err instanceof GrammyError &&
  err.error_code === 400 &&
  /message to edit not found|can't be edited/i.test(err.description)

/** How the outbox should treat a failed call. */
export function classify(err: unknown): SendResult {
  if (err instanceof GrammyError) {
    const error = `${err.error_code} ${err.description}`
    if (err.error_code === 429) {
      // Flood control counts per bot: every chat waits, not only the one that was refused.
      const retryAfterMs = (err.parameters.retry_after ?? 1) * 1000
      return { ok: false, retry: true, error, retryAfterMs, holdChannel: true }
    }
    if (err.error_code >= 500) return { ok: false, retry: true, error }
    const gone =
      err.error_code === 403 ||
      (err.error_code === 400 && /chat not found|user is deactivated/i.test(err.description))
    return { ok: false, retry: false, error, deactivateLink: gone }
  }
  if (err instanceof HttpError) return { ok: false, retry: true, error: err.message }
  return { ok: false, retry: true, error: err instanceof Error ? err.message : String(err) }
}

export class TelegramAdapter implements ChatChannel {
  readonly channel = TELEGRAM_CHANNEL.channel
  readonly label = TELEGRAM_CHANNEL.label
  readonly classify = classify

  constructor(
    private readonly api: Api,
    readonly pacing = TELEGRAM_PACING,
  ) {}

  send(job: DeliveryJob): Promise<SendResult> {
    return sendByKind(this, job)
  }

  async sendQuestion(job: DeliveryJob): Promise<SendResult> {
    const options = job.message.options ?? []
    const msg = await this.api.sendMessage(job.target, questionText(job), {
      ...html,
      reply_markup:
        options.length > 0
          ? optionsKeyboard(job.message.id, options)
          : { force_reply: true, input_field_placeholder: 'Your answer' },
    })
    return {
      ok: true,
      externalRef: { chat_id: job.target, message_id: msg.message_id } satisfies TelegramRef,
    }
  }

  async editAnswered(job: DeliveryJob): Promise<SendResult> {
    const ref = job.externalRef as TelegramRef | null
    if (!ref?.message_id) return { ok: false, retry: false, error: 'no copy to edit' }
    try {
      await this.api.editMessageText(ref.chat_id, ref.message_id, lockedText(job), html)
    } catch (err) {
      if (!notModified(err)) throw err
    }
    return { ok: true }
  }

  async showProgress(job: DeliveryJob): Promise<SendResult> {
    let ref = job.externalRef as TelegramRef | null
    const text = progressText(job)
    if (ref?.message_id) {
      try {
        await this.api.editMessageText(ref.chat_id, ref.message_id, text, html)
      } catch (err) {
        if (editTargetGone(err)) ref = null
        else if (!notModified(err)) throw err
      }
    }
    if (!ref?.message_id) {
      const msg = await this.api.sendMessage(job.target, text, { ...html, disable_notification: true })
      ref = { chat_id: job.target, message_id: msg.message_id }
    }
    if (job.instance.ended && !ref.ended) {
      await this.api.sendMessage(job.target, endedNote(job), { ...html, disable_notification: true })
      ref = { ...ref, ended: true }
    }
    return { ok: true, externalRef: ref }
  }
}
