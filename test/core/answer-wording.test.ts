// The one wording of an answered or closed question, the same on the dashboard and every copy.
import { describe, expect, test } from 'bun:test'
import { answerSummary, CLOSED_AT_TERMINAL, CLOSED_VIA } from '../../src/core/answer-wording.ts'

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
