// The web push channel: a question becomes a notification on every subscribed device, with up to
// two action buttons (its first options) that answer through a signed link; once answered anywhere
// the notification is replaced (same tag) by the one wording of the answer; progress, when opted
// in, is one quiet notification per instance. The payload (DESIGN.md "Web push") is encrypted per
// RFC 8291 (aes128gcm) and signed with VAPID by the `web-push` library, which only builds the
// request: it is sent with fetch through the same address policy as webhooks. A push service
// answering 404 or 410 has forgotten the subscription, so it is removed here too.
import { renderWithin } from '../../../bots/markdown.ts'
import { isApproval } from '../../core/hooks/approval-text.ts'
import {
  newestPushTargets,
  PUSH,
  type PushTarget,
  pushTarget,
  removePushSubscription,
} from '../../core/push-subscriptions.ts'
import { parseQuestion } from '../../core/questions.ts'
import type { Db } from '../../db/client.ts'
import { onFirstUse } from '../../first-use.ts'
import {
  type ChatChannel,
  type ChatChannelInfo,
  type DeliveryJob,
  type SendResult,
  sendByKind,
} from '../channel.ts'
import { failureOf, guardedFetch } from '../http-send.ts'
import { instanceLabel, questionLink } from '../jobs.ts'
import { WebhookPolicy } from '../ssrf.ts'
import type { AnswerLinks } from './answer-links.ts'

/** web-push, loaded by the first push sent: a server nobody subscribed to never holds it. */
const loadWebPush = onFirstUse(() => import('web-push'))
type WebPush = Awaited<ReturnType<typeof loadWebPush>>

/** Web push as core and people name it. */
export const PUSH_CHANNEL = { channel: PUSH, label: 'Web push' } as const satisfies ChatChannelInfo

/** DESIGN.md "Web push": what the service worker receives. */
export type PushPayload = {
  title: string
  body: string
  url: string
  tag: string
  actions: { action: string; title: string }[]
  answer_url: string | null
  /** Quiet hours: shown without sound or vibration. */
  silent?: boolean
}

export type VapidKeys = { publicKey: string; privateKey: string }

export type PushAdapterOptions = {
  db: Db
  vapid: VapidKeys
  /** VAPID `sub`: an https: URL or mailto: address the push service may contact. */
  subject: string
  links: AnswerLinks
  /** Base URL of answer links (PUBLIC_URL or this server's address). */
  baseUrl: () => string
  /** Hosts or CIDRs reachable although private (PARLEY_WEBHOOK_ALLOW). */
  allow?: readonly string[]
}

/** Notification buttons: most platforms show two. */
const MAX_ACTIONS = 2
/** A VAPID JWT lives 12 hours (push services accept at most 24). */
const VAPID_LIFETIME_S = 12 * 3600
/** How long a push service keeps an undelivered question (seconds): a day. */
const QUESTION_TTL_S = 24 * 3600

/** Subscriptions read ahead at start (warm), newest first: a few hundred kB at most. */
const WARM_TARGETS = 1000
/** Push services signed for ahead (warm): the most used among those subscriptions. */
const WARM_ORIGINS = 5

/** Markdown to plain text for a notification, at most `max` characters. */
const plain = (text: string, max: number) => renderWithin(text, max, (part) => part.text)

/**
 * The buttons of a question's notification: its first options, the action naming the option's
 * index; an approval offers Allow and Deny (a session-wide allow is for the dashboard).
 */
export function notificationActions(options: readonly string[] | null): PushPayload['actions'] {
  const all = (options ?? []).map((title, i) => ({ action: String(i), title }))
  if (isApproval(options)) return all.filter((a) => a.title === 'Allow' || a.title === 'Deny')
  return all.slice(0, MAX_ACTIONS)
}

/** The notification tag of a question: its answered copy replaces it. */
export const questionTag = (questionId: string) => `q-${questionId}`

export class PushAdapter implements ChatChannel {
  readonly channel = PUSH_CHANNEL.channel
  readonly label = PUSH_CHANNEL.label
  /**
   * Each target is one device at a push service that takes thousands of requests a second from
   * an application server: at most one push per device per 50 ms (a 429's Retry-After holds that
   * device longer), and no overall cap, which would only queue a burst (100 devices) behind timer
   * ticks.
   */
  readonly pacing = { perTargetMs: 50, perSecond: 0 }
  private readonly policy: WebhookPolicy
  private readonly vapidHeaders = new Map<string, { header: string; expires: number }>()
  /** Subscriptions read before: an id always names the same keys (savePushSubscription). */
  private readonly targets = new Map<string, PushTarget>()

  constructor(private readonly opts: PushAdapterOptions) {
    this.policy = new WebhookPolicy(opts.allow ?? [])
  }

  send(job: DeliveryJob): Promise<SendResult> {
    return sendByKind(this, job)
  }

  /**
   * Readies the first pushes after a start, when anyone has subscribed: web-push loaded, the
   * newest subscriptions held, and a VAPID header signed for each push service they use. The
   * first question after a restart otherwise paid all of it before its first push (about 60 ms,
   * and a read per device). With no subscription, nothing is loaded.
   */
  async warm(): Promise<void> {
    const targets = await newestPushTargets(this.opts.db, WARM_TARGETS)
    if (targets.length === 0) return
    for (const target of targets) this.targets.set(target.id, target)
    const webpush = await loadWebPush()
    // Browsers use a handful of push services; anyone may subscribe an endpoint elsewhere, so only
    // the most used are signed for, each signature in a turn of its own.
    const uses = new Map<string, number>()
    for (const t of targets) {
      const origin = URL.parse(t.endpoint)?.origin
      if (origin) uses.set(origin, (uses.get(origin) ?? 0) + 1)
    }
    const common = [...uses].sort((a, b) => b[1] - a[1]).slice(0, WARM_ORIGINS)
    for (const [origin] of common) {
      this.vapidAuthorization(webpush, origin)
      await Bun.sleep(0)
    }
  }

  classify(err: unknown): SendResult {
    // web-push throws only for what it was given (a malformed key or endpoint): that stays broken.
    return { ok: false, retry: false, error: err instanceof Error ? err.message : String(err) }
  }

  async sendQuestion(job: DeliveryJob): Promise<SendResult> {
    return this.push(job, async (target) => {
      const { text, options } = parseQuestion(job.message.content, job.message.options)
      const actions = notificationActions(options)
      const token = await this.opts.links.sign(
        { subscriptionId: target.id, questionId: job.message.id, actions: actions.map((a) => a.action) },
        job.message.timeoutAt,
      )
      return {
        payload: {
          title: instanceLabel(job.instance),
          body: plain(text, 500),
          url: questionLink(job.instance.url, job.message.id),
          tag: questionTag(job.message.id),
          actions,
          answer_url: `${this.opts.baseUrl()}/push/answer/${token}`,
        },
        ttl: QUESTION_TTL_S,
        urgency: 'high',
      }
    })
  }

  async editAnswered(job: DeliveryJob): Promise<SendResult> {
    return this.push(job, async () => ({
      payload: {
        title: instanceLabel(job.instance),
        body: job.summary ?? 'Answered',
        url: questionLink(job.instance.url, job.message.id),
        tag: questionTag(job.message.id),
        actions: [],
        answer_url: null,
        silent: true,
      },
      ttl: QUESTION_TTL_S,
      urgency: 'normal',
    }))
  }

  async showProgress(job: DeliveryJob): Promise<SendResult> {
    const state = job.instance.ended ? `Session ended (${job.instance.status.toLowerCase()})` : 'Working…'
    return this.push(job, async () => ({
      payload: {
        title: `${instanceLabel(job.instance)} · ${state}`,
        body: plain(job.message.content, 300),
        url: job.instance.url,
        tag: `progress-${job.instance.id}`,
        actions: [],
        answer_url: null,
        silent: true,
      },
      ttl: 3600,
      urgency: 'low',
    }))
  }

  private async target(id: string): Promise<PushTarget | null> {
    const cached = this.targets.get(id)
    if (cached) return cached
    const target = await pushTarget(this.opts.db, id)
    if (!target) return null
    if (this.targets.size >= 10_000) this.targets.clear()
    this.targets.set(id, target)
    return target
  }

  /**
   * The VAPID Authorization header for a push service (its origin is the JWT's audience), signed
   * once and reused until an hour before it expires: an ES256 signature per push would cost more
   * CPU than the encryption itself.
   */
  private vapidAuthorization(webpush: WebPush, audience: string): string {
    const now = Math.floor(Date.now() / 1000)
    const cached = this.vapidHeaders.get(audience)
    if (cached && cached.expires - now > 3600) return cached.header
    const expires = now + VAPID_LIFETIME_S
    const { subject, vapid } = this.opts
    const { Authorization: header } = webpush.getVapidHeaders(
      audience,
      subject,
      vapid.publicKey,
      vapid.privateKey,
      'aes128gcm',
      expires,
    )
    // One entry per push service; anyone can subscribe an endpoint on any host, so the map is bounded.
    if (this.vapidHeaders.size >= 1000) this.vapidHeaders.clear()
    this.vapidHeaders.set(audience, { header, expires })
    return header
  }

  /** Encrypts and sends one payload to the job's subscription, and sorts the push service's answer. */
  private async push(
    job: DeliveryJob,
    build: (
      target: PushTarget,
    ) => Promise<{ payload: PushPayload; ttl: number; urgency: 'low' | 'normal' | 'high' }>,
  ): Promise<SendResult> {
    const target = await this.target(job.target)
    if (!target) return { ok: false, retry: false, error: 'push subscription removed', deactivateLink: true }
    const { payload, ttl, urgency } = await build(target)
    // Asked in the person's quiet hours (core/deliveries.ts): shown without sound or vibration.
    if ((job.payload as { quiet?: boolean } | null)?.quiet) payload.silent = true
    const webpush = await loadWebPush()
    const request = webpush.generateRequestDetails(
      { endpoint: target.endpoint, keys: target.keys },
      JSON.stringify(payload),
      {
        headers: { Authorization: this.vapidAuthorization(webpush, new URL(target.endpoint).origin) },
        TTL: ttl,
        urgency,
        contentEncoding: 'aes128gcm',
      },
    )
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)]))
    const sent = await guardedFetch(this.policy, new URL(request.endpoint), {
      method: request.method,
      headers,
      body: new Uint8Array(request.body),
    })
    if (!sent.ok) return { ok: false, retry: sent.retry, error: `push ${sent.error}` }
    const { status } = sent.res
    if (sent.res.ok) return { ok: true, externalRef: { tag: payload.tag, status } }
    if (status === 404 || status === 410) {
      this.targets.delete(target.id)
      await removePushSubscription(this.opts.db, { id: target.id })
      return { ok: false, retry: false, error: `push service answered ${status}: subscription gone` }
    }
    return failureOf(sent.res, `push service answered HTTP ${status}`)
  }
}
