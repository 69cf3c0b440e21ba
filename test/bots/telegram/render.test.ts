// The "Open in Parley" link of a Telegram copy: it must land on the question on the instance page,
// and it is how a Telegram reply finds its question, including copies sent before the link changed.
import { describe, expect, test } from 'bun:test'
import {
  markdownToHtml,
  questionIdFromLinks,
  questionLink,
  questionText,
} from '../../../bots/telegram/render.ts'
import { approvalQuestion } from '../../../src/core/hooks/approval-text.ts'
import type { ThreadMessage } from '../../../src/core/thread.ts'
import type { DeliveryJob } from '../../../src/notify/channel.ts'
import { Message } from '../../../views/thread.tsx'

const instanceId = '0190a3c2-7b1e-7cc0-8a4e-3b2f1d0c9e8a'
const questionId = '0190a3c2-7b1f-7000-9abc-def012345678'
const instanceUrl = `https://parley.example/instances/${instanceId}`
const telegramJob = (content: string): DeliveryJob => ({
  id: 'd1',
  kind: 'question',
  channel: 'telegram',
  target: '42',
  recipientUserId: 'u1',
  attempts: 0,
  externalRef: null,
  payload: null,
  instance: {
    id: instanceId,
    name: 'repo',
    agentType: 'claude_code',
    status: 'ACTIVE',
    ended: false,
    url: instanceUrl,
  },
  message: { id: questionId, content, options: ['Allow', 'Allow for this session', 'Deny'], createdAt: '' },
  answer: null,
  summary: null,
})

test('the "Open in Parley" link jumps to the question on the instance page', async () => {
  const m = {
    id: questionId,
    sender: 'AGENT',
    content: 'Deploy now?',
    requiresUserInput: true,
    options: null,
    createdAt: new Date(),
    answeredAt: null,
    timeoutAt: null,
  } as unknown as ThreadMessage
  const page = await Message({ m, instanceId, access: 'OWNER', csrfToken: 'token' })
  const fragment = new URL(questionLink(instanceUrl, questionId)).hash.slice(1)
  expect(page).toContain(`id="${fragment}"`)
})

test('a reply finds its question through the link it quotes', () => {
  expect(questionIdFromLinks([questionLink(instanceUrl, questionId)])).toBe(questionId)
})

test('copies sent with the old #m- link still match their question', () => {
  expect(questionIdFromLinks([`${instanceUrl}#m-${questionId}`])).toBe(questionId)
  expect(questionIdFromLinks([`${instanceUrl}#x-${questionId}`])).toBeNull()
})

describe('questions read as code on Telegram', () => {
  const bash = approvalQuestion('Bash', { command: 'rm -rf <build> && echo "done"' }, [
    { tool: 'Bash', rule: 'rm:*' },
  ]).content

  test('a Bash approval: the command in a pre/code block, escaped; bold and inline code as tags', () => {
    const html = markdownToHtml(bash, 3000)
    expect(html).toContain(
      '<pre><code class="language-bash">rm -rf &lt;build&gt; &amp;&amp; echo "done"</code></pre>',
    )
    expect(html).toContain(
      '<i>Allow for this session</i> also allows <code>Bash(rm:*)</code> in this session',
    )
    expect(html).not.toContain('```')
    expect(markdownToHtml('**File:** ```\n/tmp/a<b>.ts\n```', 100)).toBe(
      '<b>File:</b> <pre><code>/tmp/a&lt;b&gt;.ts</code></pre>',
    )
  })

  test('agent text cannot open a tag, and markup that is not the subset stays as it was written', () => {
    expect(markdownToHtml('<b>x</b> & [a](http://e.test) _y_ `<i>`', 200)).toBe(
      '&lt;b&gt;x&lt;/b&gt; &amp; [a](http://e.test) _y_ <code>&lt;i&gt;</code>',
    )
    expect(markdownToHtml('2 * 3 * 4 and ` alone', 200)).toBe('2 * 3 * 4 and ` alone')
  })

  test('a long block is cut inside the code, the tags still closed, no entity split', () => {
    const long = approvalQuestion('Bash', { command: '&'.repeat(5000) }, []).content
    const html = markdownToHtml(long, 3000)
    expect(html.length).toBeLessThanOrEqual(3000)
    expect(html).toEndWith('&amp;…</code></pre>')
    expect(html.match(/<pre>/g)).toHaveLength(1)
    // Whole Telegram messages stay inside 4096 characters, with the tags balanced.
    const text = questionText(telegramJob(long))
    expect(text.length).toBeLessThan(4096)
    for (const tag of ['pre', 'code', 'b', 'i', 'a']) {
      expect(text.split(`<${tag}`).length).toBe(text.split(`</${tag}>`).length)
    }
  })
})
