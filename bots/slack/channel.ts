// Slack's name and label as core and the settings page know them, apart from the adapter so that
// naming the channel does not load the Slack library (it is loaded only when Slack is configured).
import type { ChatChannelInfo } from '../../src/notify/channel.ts'

/** Slack as core and people name it. */
export const SLACK_CHANNEL = { channel: 'slack', label: 'Slack' } as const satisfies ChatChannelInfo
