// What the outbox hands a channel adapter (Telegram, Slack, webhook) and what it expects back.
// Adapters only talk to their API: the outbox owns claiming rows, retries, pacing and state, so
// every channel gets the same guarantees (restart-safe, never sent twice, 429 honoured).

import type { ChatChannelInfo } from '../core/chat-channels.ts'
import type { DeliveryKind, StoredDelivery } from '../core/outbox-store.ts'

export type { ChatChannelInfo, DeliveryKind }

/** One outbox row, with what an adapter needs to render it already read from the database:
 * the instance (and its page's URL), the question (question, lock, webhook) or the latest progress
 * message (progress), and, once there is one, the answer. `target` is the link's target (Telegram
 * chat id, Slack "team:user", webhook URL); `recipientUserId` the user the copy is for;
 * `externalRef` where a sent copy lives (edits use it). */
export type DeliveryJob = Omit<StoredDelivery, 'instance'> & {
  instance: StoredDelivery['instance'] & { url: string }
}

export type SendResult =
  /** Done; `externalRef` (when given) is stored so later edits can find the copy. */
  | { ok: true; externalRef?: unknown }
  /**
   * Network error, 5xx or 429: try again later (after `retryAfterMs` when the API said so). The
   * wait holds this target only, or with `holdChannel` every target of the channel (Telegram's
   * flood control counts per bot, so one chat's 429 means the whole bot must wait).
   */
  | { ok: false; retry: true; error: string; retryAfterMs?: number; holdChannel?: boolean }
  /** Will never work (bot blocked, chat not found, invalid auth): stop; maybe mark the link inactive. */
  | { ok: false; retry: false; error: string; deactivateLink?: boolean }

export interface ChannelAdapter {
  readonly channel: string
  /** Pacing the outbox keeps for this channel: per target and overall. */
  readonly pacing: { perTargetMs: number; perSecond: number }
  send(job: DeliveryJob): Promise<SendResult>
}

/**
 * A chat channel (Telegram, Slack, e-mail, web push…): one adapter that renders and sends a
 * question, edits that copy once the question is answered, and optionally keeps a quiet status
 * message per instance. Its `send` is `sendByKind(this, job)`, so every chat channel treats the
 * outbox's kinds the same way. Linking goes through core/links.ts with the channel's own target.
 * Its `channel` and `label` (ChatChannelInfo) are how core and people name it: "via Slack", the
 * settings toggles, the key of its notification prefs.
 */
export interface ChatChannel extends ChannelAdapter, ChatChannelInfo {
  /** Posts a new copy of a question, its options as buttons; `externalRef` says where it lives. */
  sendQuestion(job: DeliveryJob): Promise<SendResult>
  /** Edits a sent copy once answered: who answered, how, and the answer; no buttons left. */
  editAnswered(job: DeliveryJob): Promise<SendResult>
  /** The status message of an instance in this chat: posted once, then edited in place. */
  showProgress?(job: DeliveryJob): Promise<SendResult>
  /** Sorts a failure the channel's API threw: retry, give up, or give up and deactivate the link. */
  classify(err: unknown): SendResult
}

/** The one mapping from an outbox row's kind to what a chat channel does with it. */
export async function sendByKind(channel: ChatChannel, job: DeliveryJob): Promise<SendResult> {
  try {
    switch (job.kind) {
      case 'question':
        return await channel.sendQuestion(job)
      case 'lock':
        return await channel.editAnswered(job)
      case 'progress':
        if (channel.showProgress) return await channel.showProgress(job)
        return { ok: true }
      default:
        return { ok: false, retry: false, error: `${channel.channel} cannot send ${job.kind}` }
    }
  } catch (err) {
    return channel.classify(err)
  }
}
