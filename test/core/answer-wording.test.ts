// The one wording of an answered or closed question, the same on the dashboard and every copy.
import { describe, expect, test } from 'bun:test'
import { answerSummary, CLOSED_AT_TERMINAL, CLOSED_VIA, viaLabel } from '../../src/core/answer-wording.ts'
import { describeChatChannel } from '../../src/core/chat-channels.ts'
import { CHAT_CHANNELS, describeChatChannels } from '../../src/notify/registry.ts'

describe('answerSummary: one wording for every channel', () => {
  test('answered, with who, the channel by name, and when', () => {
    const at = '2026-12-03T12:03:09Z'
    expect(answerSummary({ by: 'Ann', via: 'slack', at })).toBe(
      'Answered by Ann via Slack · 2026-12-03 12:03 UTC',
    )
    expect(answerSummary({ by: null, via: 'web', at: null })).toBe('Answered by someone via the dashboard')
  })
  test('closed, with the reason', () => {
    expect(answerSummary({ by: null, via: CLOSED_VIA, reason: CLOSED_AT_TERMINAL })).toBe(
      'Closed: answered at the terminal or timed out',
    )
  })
})

describe('which channel: answer sources in core, chat channels as their adapters name them', () => {
  test('answer sources that are not chat channels', () => {
    expect(['web', 'api', 'cli', 'mcp', 'terminal'].map(viaLabel)).toEqual([
      'the dashboard',
      'the API',
      'the CLI',
      'MCP',
      'the terminal',
    ])
    expect(viaLabel(null)).toBe('an unknown channel')
  })
  test('the built-in chat channels label themselves', () => {
    expect(CHAT_CHANNELS).toEqual([
      { channel: 'telegram', label: 'Telegram' },
      { channel: 'slack', label: 'Slack' },
      { channel: 'push', label: 'Web push' },
    ])
    // Test files share a worker's modules: an earlier file's Parley may have described them already.
    for (const c of CHAT_CHANNELS) describeChatChannel(c)()
    expect(answerSummary({ by: 'Ann', via: 'push' })).toBe('Answered by Ann via Push')
    describeChatChannels()
    expect(answerSummary({ by: 'Ann', via: 'telegram' })).toBe('Answered by Ann via Telegram')
    expect(answerSummary({ by: 'Ann', via: 'push' })).toBe('Answered by Ann via Web push')
  })
  test('a chat channel added later reads by the label its adapter gave, with no edit in core', () => {
    const forget = describeChatChannel({ channel: 'owl', label: 'Owl post' })
    try {
      expect(answerSummary({ by: 'Ann', via: 'owl' })).toBe('Answered by Ann via Owl post')
    } finally {
      forget()
    }
  })
})
