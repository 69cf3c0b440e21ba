// The chat channels the outbox can deliver to, by name. A channel is one adapter registered here
// (Telegram, Slack, webhook, or any added later); core and the outbox know a channel only through
// its name, its links' targets and this interface, so adding one edits neither.
import { SLACK_CHANNEL } from '../../bots/slack/channel.ts'
import { TELEGRAM_CHANNEL } from '../../bots/telegram/channel.ts'
import { type ChatChannelInfo, describeChatChannel } from '../core/chat-channels.ts'
import type { ChannelAdapter } from './channel.ts'
import { PUSH_CHANNEL } from './push/adapter.ts'

/** Every chat channel Parley has, configured or not: adding one is one adapter folder and a line here. */
export const CHAT_CHANNELS: readonly ChatChannelInfo[] = [TELEGRAM_CHANNEL, SLACK_CHANNEL, PUSH_CHANNEL]

/** Tells core about every chat channel (names, labels, settings toggles); the wiring calls it. */
export function describeChatChannels(): void {
  for (const c of CHAT_CHANNELS) describeChatChannel(c)
}

export class ChannelRegistry {
  private readonly byName = new Map<string, ChannelAdapter>()

  constructor(adapters: Iterable<ChannelAdapter> = []) {
    for (const a of adapters) this.register(a)
  }

  /** Adds a channel; a second adapter for the same name is a wiring mistake. */
  register(adapter: ChannelAdapter): this {
    if (this.byName.has(adapter.channel)) throw new Error(`channel ${adapter.channel} is registered twice`)
    this.byName.set(adapter.channel, adapter)
    return this
  }

  get(channel: string): ChannelAdapter | undefined {
    return this.byName.get(channel)
  }

  get names(): string[] {
    return [...this.byName.keys()]
  }

  [Symbol.iterator](): IterableIterator<ChannelAdapter> {
    return this.byName.values()
  }
}
