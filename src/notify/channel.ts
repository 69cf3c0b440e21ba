// What the outbox hands a channel adapter (Telegram, Slack, webhook) and what it expects back.
// Adapters only talk to their API: the outbox owns claiming rows, retries, pacing and state, so
// every channel gets the same guarantees (restart-safe, never sent twice, 429 honoured).

import type { DeliveryKind, StoredDelivery } from '../core/outbox-store.ts'

export type { DeliveryKind }

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
  /** Network error, 5xx or 429: try again later (after `retryAfterMs` when the API said so). */
  | { ok: false; retry: true; error: string; retryAfterMs?: number }
  /** Will never work (bot blocked, chat not found, invalid auth): stop; maybe mark the link inactive. */
  | { ok: false; retry: false; error: string; deactivateLink?: boolean }

export interface ChannelAdapter {
  readonly channel: string
  /** Pacing the outbox keeps for this channel: per target and overall. */
  readonly pacing: { perTargetMs: number; perSecond: number }
  send(job: DeliveryJob): Promise<SendResult>
}
