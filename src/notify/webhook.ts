// The webhook channel: when a question with `message_metadata.webhook_url` is answered, the outbox
// POSTs the answer there once (n8n's "resume" URL), with Omnara's body and X-Omnara-Webhook header
// so n8n's Omnara node accepts it. Only public addresses are called (see ssrf.ts); redirects are
// not followed, since a public URL could redirect into the private network. Every attempt carries
// the delivery's id as Idempotency-Key: a call repeated after a crash (see outbox.ts) can be dropped.
import type { ChannelAdapter, DeliveryJob, SendResult } from './channel.ts'
import { WebhookPolicy } from './ssrf.ts'

const TIMEOUT_MS = 10_000

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

/** Seconds or an HTTP date, as Retry-After allows. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined
  const secs = Number(header)
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
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
    const resolved = await this.policy.resolve(url)
    if (!resolved.ok) return { ok: false, retry: resolved.retry, error: resolved.reason }
    // Plain HTTP connects to the address that was checked, so a second DNS answer cannot differ;
    // HTTPS keeps the name, and its certificate check stops a rebinding to an internal host.
    const target = new URL(url)
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-omnara-webhook': 'true',
      'user-agent': 'parley-webhook',
      'idempotency-key': job.id,
    }
    if (url.protocol === 'http:') {
      target.hostname = resolved.address.includes(':') ? `[${resolved.address}]` : resolved.address
      headers.host = url.host
    }
    let res: Response
    try {
      res = await fetch(target, {
        method: 'POST',
        headers,
        body: JSON.stringify(webhookBody(job)),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      await res.arrayBuffer().catch(() => {})
    } catch (err) {
      return { ok: false, retry: true, error: `webhook request failed: ${(err as Error).message}` }
    }
    if (res.ok) return { ok: true, externalRef: { status: res.status } }
    const error = `webhook answered HTTP ${res.status}`
    if (res.status === 429)
      return { ok: false, retry: true, error, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) }
    if (res.status >= 500 || res.status === 408) return { ok: false, retry: true, error }
    return { ok: false, retry: false, error }
  }
}
