// The webhook channel: when a question with `message_metadata.webhook_url` is answered, the outbox
// POSTs the answer there once (n8n's "resume" URL), with Omnara's body and X-Omnara-Webhook header
// so n8n's Omnara node accepts it. Only public addresses are called (see ssrf.ts); redirects are
// not followed, since a public URL could redirect into the private network. Every attempt carries
// the delivery's id as Idempotency-Key: a call repeated after a crash (see outbox.ts) can be dropped.
import type { ChannelAdapter, DeliveryJob, SendResult } from './channel.ts'
import { failureOf, guardedFetch, TIMEOUT_MS } from './http-send.ts'
import { WebhookPolicy } from './ssrf.ts'

type WebhookPayload = { answerMessageId?: string; actorUserId?: string }

/** Omnara's body: ids as strings; `timestamp` in UTC with an explicit +00:00 offset. */
export function webhookBody(job: DeliveryJob) {
  const payload = (job.payload ?? {}) as WebhookPayload
  return {
    user_message: job.answer?.content ?? '',
    user_id: payload.actorUserId ?? job.recipientUserId,
    message_id: payload.answerMessageId ?? job.answer?.messageId ?? null,
    agent_instance_id: job.instance.id,
    timestamp: (job.answer?.at ?? new Date().toISOString()).replace(/Z$/, '+00:00'),
  }
}

export class WebhookAdapter implements ChannelAdapter {
  readonly channel = 'webhook'
  readonly pacing = { perTargetMs: 0, perSecond: 50 }
  private readonly policy: WebhookPolicy

  constructor(
    allow: readonly string[] = [],
    /** How long a call may take before it is abandoned and retried later. */
    private readonly timeoutMs = TIMEOUT_MS,
  ) {
    this.policy = new WebhookPolicy(allow)
  }

  async send(job: DeliveryJob): Promise<SendResult> {
    let url: URL
    try {
      url = new URL(job.target)
    } catch {
      return { ok: false, retry: false, error: 'webhook_url is not a URL' }
    }
    const sent = await guardedFetch(this.policy, url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-omnara-webhook': 'true',
        'user-agent': 'parley-webhook',
        'idempotency-key': job.id,
      },
      timeoutMs: this.timeoutMs,
      body: JSON.stringify(webhookBody(job)),
    })
    if (!sent.ok) return { ok: false, retry: sent.retry, error: sent.error }
    if (sent.res.ok) return { ok: true, externalRef: { status: sent.res.status } }
    return failureOf(sent.res, `webhook answered HTTP ${sent.res.status}`)
  }
}
