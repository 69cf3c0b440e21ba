// What the outbox hands a channel adapter (Telegram, Slack, webhook) and what it expects back.
// Adapters only talk to their API: the outbox owns claiming rows, retries, pacing and state, so
// every channel gets the same guarantees (restart-safe, never sent twice, 429 honoured).

export type DeliveryKind = 'question' | 'lock' | 'progress' | 'webhook'

/** One outbox row, with what an adapter needs to render it already read from the database. */
export type DeliveryJob = {
  id: string
  kind: DeliveryKind
  channel: string
  /** Telegram chat id; "team:user" for Slack; the URL for a webhook. */
  target: string
  /** The owner of the instance (deliveries.user_id is the recipient: owner or WRITE-shared user). */
  recipientUserId: string
  attempts: number
  /** Set once a copy exists: Slack channel + ts, Telegram chat + message_id. Edits use it. */
  externalRef: unknown
  payload: unknown
  instance: { id: string; name: string | null; agentType: string; status: string; url: string }
  /** The question (question, lock, webhook) or the latest progress message (progress). */
  message: { id: string; content: string; options: string[] | null; createdAt: string }
  /** Present once the question is answered (always for lock and webhook). */
  answer: { messageId: string; content: string; by: string | null; via: string | null; at: string } | null
  /** How an answered or closed question reads on every copy (answerSummary); null while open. */
  summary: string | null
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
