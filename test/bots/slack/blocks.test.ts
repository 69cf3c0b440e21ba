// What a question looks like in Slack, and what it turns into once answered: pure rendering.
import { expect, test } from 'bun:test'
import {
  answeredMessage,
  escapeMrkdwn,
  markdownToMrkdwn,
  parseOptionValue,
  progressMessage,
  questionMessage,
  replyModal,
} from '../../../bots/slack/blocks.ts'
import { answerSummary, CLOSED_AT_TERMINAL, CLOSED_VIA } from '../../../src/core/answer-wording.ts'
import { approvalQuestion, fenced } from '../../../src/core/hooks/approval-text.ts'
import type { DeliveryJob } from '../../../src/notify/channel.ts'

const questionId = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'
const job = (over: Partial<DeliveryJob> = {}): DeliveryJob => ({
  id: 'd1',
  kind: 'question',
  channel: 'slack',
  target: 'T1:U1',
  recipientUserId: 'u1',
  attempts: 0,
  externalRef: null,
  payload: null,
  instance: {
    id: 'i1',
    name: 'refactor <b>',
    agentType: 'claude',
    status: 'AWAITING_INPUT',
    ended: false,
    url: 'http://p.test/instances/i1',
  },
  message: {
    id: questionId,
    content: 'Merge <@U123> & ship?\n[OPTIONS]\n1. Yes\n2. No, wait\n[/OPTIONS]',
    options: null,
    createdAt: '',
  },
  answer: null,
  summary: null,
  ...over,
})
// biome-ignore lint/suspicious/noExplicitAny: blocks are inspected field by field
type B = any

test('a question: header, context with the instance link, escaped section, one button per option and Reply…', () => {
  const { blocks, text } = questionMessage(job())
  const [header, context, section, actions] = blocks as B[]
  expect(header.type).toBe('header')
  expect(header.text.text).toBe('claude asks')
  expect(context.elements[0].text).toBe(
    '*claude · refactor &lt;b&gt;* · <http://p.test/instances/i1|Open in Parley>',
  )
  expect(section.text).toEqual({ type: 'mrkdwn', text: 'Merge &lt;@U123&gt; &amp; ship?' })
  expect(actions.type).toBe('actions')
  expect(actions.elements.map((e: B) => [e.text.text, e.action_id, e.value])).toEqual([
    ['Yes', 'parley.option.0', `${questionId}:0`],
    ['No, wait', 'parley.option.1', `${questionId}:1`],
    ['Reply…', 'parley.reply', questionId],
  ])
  expect(text).toBe('claude · refactor &lt;b&gt; asks: Merge &lt;@U123&gt; &amp; ship?')
  expect(parseOptionValue(actions.elements[1].value)).toEqual({ questionId, option: 1 })
  expect(parseOptionValue('not-a-ref:1')).toBeNull()
})

test('stored options (from [YES/NO]) make the buttons, and the marker is not shown', () => {
  const { blocks } = questionMessage(
    job({ message: { id: questionId, content: 'Deploy? [YES/NO]', options: ['Yes', 'No'], createdAt: '' } }),
  )
  expect((blocks as B[])[2].text.text).toBe('Deploy?')
  expect((blocks as B[])[3].elements.map((e: B) => e.text.text)).toEqual(['Yes', 'No', 'Reply…'])
})

test('explicit options win; more than 24 options are split over several actions blocks; long labels are cut', () => {
  const options = Array.from({ length: 30 }, (_, i) => `option ${i} ${'x'.repeat(i === 0 ? 100 : 0)}`)
  const { blocks } = questionMessage(
    job({ message: { id: questionId, content: 'Pick', options, createdAt: '' } }),
  )
  const actions = (blocks as B[]).filter((b) => b.type === 'actions')
  expect(actions).toHaveLength(2)
  expect(actions.flatMap((a) => a.elements)).toHaveLength(31)
  expect(actions.every((a) => a.elements.length <= 25)).toBe(true)
  expect(actions[0].elements[0].text.text.length).toBeLessThanOrEqual(75)
})

test('answered: the buttons are gone and the line is the one wording, then the answer (escaped)', () => {
  const answer = { by: 'Ann & Co', via: 'telegram', at: '2026-12-03T12:03:00Z' }
  const { blocks } = answeredMessage(
    job({
      kind: 'lock',
      answer: { messageId: 'a', content: 'No <way>', ...answer },
      summary: answerSummary(answer),
    }),
  )
  expect((blocks as B[]).some((b) => b.type === 'actions')).toBe(false)
  expect((blocks as B[]).at(-1).text.text).toBe(
    ':white_check_mark: Answered by Ann &amp; Co via Telegram · 2026-12-03 12:03 UTC: No &lt;way&gt;',
  )
})

test('closed: the copy says it was closed and why, with no answer', () => {
  const summary = answerSummary({ by: null, via: CLOSED_VIA, reason: CLOSED_AT_TERMINAL })
  const { blocks } = answeredMessage(job({ kind: 'lock', summary }))
  expect((blocks as B[]).at(-1).text.text).toBe(':lock: Closed: answered at the terminal or timed out')
})

test('progress: one status line, and a session-ended note once the instance is over', () => {
  const running = progressMessage(
    job({ kind: 'progress', instance: { ...job().instance, status: 'ACTIVE' } }),
  )
  expect((running.blocks as B[])[0].text.text).toContain('· active')
  const ended = progressMessage(
    job({ kind: 'progress', instance: { ...job().instance, status: 'COMPLETED', ended: true } }),
  )
  expect((ended.blocks as B[])[0].text.text).toContain('Session ended (completed)')
})

test('the reply modal carries the question id and asks for the answer', () => {
  const view = replyModal(questionId, 'Why <now>?') as B
  expect(view.private_metadata).toBe(questionId)
  expect(view.callback_id).toBe('parley.reply')
  expect(view.blocks[0].text.text).toBe('Why &lt;now&gt;?')
  expect(view.blocks[1].block_id).toBe('answer')
  expect(escapeMrkdwn('a&b<c>d')).toBe('a&amp;b&lt;c&gt;d')
})

test('the notification text of every message is escaped: no forged link or mention from an agent or a cwd', () => {
  const forged = job({
    instance: { ...job().instance, name: '<!channel> repo', status: 'ACTIVE' },
    message: {
      id: questionId,
      content: 'See <https://evil.test|your bank> now',
      options: null,
      createdAt: '',
    },
  })
  const answer = { by: 'Ann', via: 'slack', at: '2026-12-03T12:03:00Z' }
  const texts = [
    questionMessage(forged).text,
    answeredMessage({
      ...forged,
      kind: 'lock',
      answer: { messageId: 'a', content: '<!here> ok', ...answer },
      summary: answerSummary(answer),
    }).text,
    progressMessage({ ...forged, kind: 'progress' }).text,
  ]
  for (const text of texts) {
    expect(text).not.toMatch(/<[!@#]|<https?:/)
    expect(text).toContain('&lt;!channel&gt; repo')
  }
  expect(texts[0]).toContain('&lt;https://evil.test|your bank&gt;')
  expect(texts[1]).toContain('&lt;!here&gt; ok')
})

test('an approval reads as code in Slack: a fence without its language line, bold as *bold*, all escaped', () => {
  const { content } = approvalQuestion('Bash', { command: 'echo "<!channel>" && ls ```' }, [
    { tool: 'Bash', exact: 'echo' },
  ])
  const section = (
    questionMessage(job({ message: { id: questionId, content, options: null, createdAt: '' } })).blocks as B[]
  )[2].text.text as string
  expect(section).toContain('```\necho "&lt;!channel&gt;" &amp;&amp; ls `\u200b``\n```')
  expect(section).not.toContain('```bash')
  expect(section).toContain('_Allow for this session_ also allows this exact command in this session')
  expect(markdownToMrkdwn('**File:** ```\n/a<b>\n```')).toBe('*File:* \n```\n/a&lt;b&gt;\n```')
  const long = markdownToMrkdwn(fenced('<'.repeat(5000), 'bash'), 3000)
  expect(long.length).toBeLessThanOrEqual(3000)
  expect(long).toEndWith('&lt;…\n```')
})
