// The chat channels Parley has (Telegram, Slack, any added later) as core knows them: a name and
// how people read it. Core never names a chat channel itself: each adapter says what it is
// (ChatChannel in notify/channel.ts), the wiring describes every built-in channel here once,
// configured or not, and the settings toggles and the "answered via …" wording follow.
export type ChatChannelInfo = {
  /** answered_via, deliveries.channel, a link's channel, and the key of its notification prefs. */
  readonly channel: string
  /** How people read it: "Answered by Ann via Slack". */
  readonly label: string
}

const described = new Map<string, ChatChannelInfo>()

/**
 * Makes a chat channel known to core (idempotent: the wiring may run more than once). Returns a
 * function that forgets it again, for a channel that lives only as long as a test.
 */
export function describeChatChannel(info: ChatChannelInfo): () => void {
  described.set(info.channel, { channel: info.channel, label: info.label })
  return () => {
    described.delete(info.channel)
  }
}

/** The chat channels described so far, in the order they were described. */
export const chatChannels = (): ChatChannelInfo[] => [...described.values()]

/** A described chat channel's label; undefined for a name no adapter described. */
export const chatChannelLabel = (channel: string): string | undefined => described.get(channel)?.label
