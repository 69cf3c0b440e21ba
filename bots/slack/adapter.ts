// The Slack ChannelAdapter: renders an outbox job as Block Kit and calls the Web API. Questions go
// to the linked user's DM with the bot, locks and progress edit the copy that was sent (its
// channel + ts is the delivery's external ref). Retrying, pacing and state are the outbox's.
import type { webApi } from '@slack/bolt'
import { type ChatChannel, type DeliveryJob, type SendResult, sendByKind } from '../../src/notify/channel.ts'
import { answeredMessage, progressMessage, questionMessage } from './blocks.ts'
import { SLACK_CHANNEL } from './channel.ts'
import { platformError, sendFailure } from './web-client.ts'

export { SLACK_CHANNEL }

export type SlackRef = { channel: string; ts: string }
type Rendered = ReturnType<typeof questionMessage>

const asRef = (value: unknown): SlackRef | null => {
  const v = value as Partial<SlackRef> | null
  return v && typeof v.channel === 'string' && typeof v.ts === 'string'
    ? { channel: v.channel, ts: v.ts }
    : null
}

export class SlackAdapter implements ChatChannel {
  readonly channel = SLACK_CHANNEL.channel
  readonly label = SLACK_CHANNEL.label
  readonly classify = sendFailure
  /** Slack allows about one message per second per conversation. */
  readonly pacing = { perTargetMs: 1000, perSecond: 20 }
  private readonly dms = new Map<string, string>()

  constructor(private readonly client: webApi.WebClient) {}

  send(job: DeliveryJob): Promise<SendResult> {
    return sendByKind(this, job)
  }

  async sendQuestion(job: DeliveryJob): Promise<SendResult> {
    return { ok: true, externalRef: await this.post(job.target, questionMessage(job)) }
  }

  async editAnswered(job: DeliveryJob): Promise<SendResult> {
    const ref = asRef(job.externalRef)
    if (ref) await this.client.chat.update({ ...ref, ...answeredMessage(job) })
    return { ok: true, ...(ref ? { externalRef: ref } : {}) }
  }

  async showProgress(job: DeliveryJob): Promise<SendResult> {
    const ref = asRef(job.externalRef)
    const message = progressMessage(job)
    if (!ref) return { ok: true, externalRef: await this.post(job.target, message) }
    try {
      await this.client.chat.update({ ...ref, ...message })
      return { ok: true, externalRef: ref }
    } catch (err) {
      // Deleted by the person: start a new status message.
      if (platformError(err) === 'message_not_found') {
        return { ok: true, externalRef: await this.post(job.target, message) }
      }
      throw err
    }
  }

  private async post(target: string, message: Rendered) {
    const channel = await this.dm(target)
    const res = await this.client.chat.postMessage({ channel, ...message })
    return { channel: res.channel ?? channel, ts: res.ts! }
  }

  /** The DM conversation with a "team:user" target (opened once, then remembered). */
  private async dm(target: string): Promise<string> {
    const known = this.dms.get(target)
    if (known) return known
    const user = target.slice(target.indexOf(':') + 1)
    const res = await this.client.conversations.open({ users: user })
    const id = res.channel?.id
    if (!id) throw new Error('conversations.open returned no channel')
    this.dms.set(target, id)
    return id
  }
}
