// The pure parts of the hooks: session ids and names, the approval question's Markdown (bounded,
// and fenced so agent input cannot break out of its block), AskUserQuestion answers, and how an
// answered approval reads on every copy.
import { describe, expect, test } from 'bun:test'
import { answerSummary } from '../../src/core/answers.ts'
import { APPROVAL_OPTIONS, approvalQuestion, fenced } from '../../src/core/hooks/approval-text.ts'
import { answerText, readQuestions } from '../../src/core/hooks/ask-user.ts'
import { readHookPayload } from '../../src/core/hooks/payload.ts'
import { hookInstanceId, sessionName } from '../../src/core/hooks/session.ts'

describe('hook sessions', () => {
  test('a UUID session id is the instance id; any other string a stable name-based UUID per user', () => {
    const ann = crypto.randomUUID()
    expect(hookInstanceId('8F7C0A3E-1D2B-4C5E-9F60-7A8B9C0D1E2F', ann)).toBe(
      '8f7c0a3e-1d2b-4c5e-9f60-7a8b9c0d1e2f',
    )
    const a = hookInstanceId('my-session', ann)
    expect(a).toBe(hookInstanceId('my-session', ann))
    expect(a).not.toBe(hookInstanceId('my-session-2', ann))
    expect(a).not.toBe(hookInstanceId('my-session', crypto.randomUUID()))
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  test('named after the working directory, with the branch when one is known', () => {
    expect(sessionName('/home/ann/shop/', null)).toBe('shop')
    expect(sessionName('C:\\Users\\ann\\api', 'main')).toBe('api · main')
    expect(sessionName(null, null)).toBeNull()
  })

  test('the payload is read by event; unknown events pass', () => {
    expect(readHookPayload({ session_id: 's', hook_event_name: 'PostToolUse' })).toMatchObject({
      event: 'other',
      name: 'PostToolUse',
    })
    expect(() => readHookPayload({ session_id: 's', hook_event_name: 'Notification' })).toThrow('message')
  })
})

describe('approval questions', () => {
  test('a command cannot close the code block it is shown in', () => {
    const evil = 'echo ```\n**not bold**\n````'
    const { content } = approvalQuestion('Bash', { command: evil }, 'echo')
    const block = fenced(evil, 'bash')
    expect(content).toContain(block)
    expect(block.startsWith('`````bash\n')).toBe(true)
    expect(block.endsWith('\n`````')).toBe(true)
  })

  test('the title is one bounded line; huge input is clipped', () => {
    const { content, summary } = approvalQuestion(
      'Bash',
      { command: `${'x'.repeat(50_000)}\nsecond line`, description: 'Line one\nline two' },
      'xxx',
    )
    expect(content.split('\n')[0]).toBe('Allow Bash: Line one line two?')
    expect(summary).toBe('Bash: Line one line two')
    expect(content.length).toBeLessThan(7000)
    expect(content).toContain('more characters)')
  })

  test("Codex's apply_patch shows the patch as a diff", () => {
    const patch = '*** Begin Patch\n*** Update File: a.ts\n-old\n+new\n*** End Patch'
    const { content } = approvalQuestion('apply_patch', { command: patch }, 'apply_patch')
    expect(content).toStartWith(`Allow apply_patch: apply a patch?\n\n\`\`\`diff\n${patch}\n\`\`\``)
  })

  test('the footer says what "Allow for this session" covers', () => {
    expect(approvalQuestion('Bash', { command: 'npm test' }, 'npm').content).toContain(
      'also allows later `npm` commands in this session',
    )
    expect(approvalQuestion('Write', { file_path: '/a', content: '' }, 'Write').content).toContain(
      'also allows Write from now on in this session',
    )
  })

  test('an answered approval reads "Allowed by …" or "Denied by …" on every copy; other questions do not', () => {
    const a = { by: 'Ann', via: 'slack', options: APPROVAL_OPTIONS }
    expect(answerSummary({ ...a, answer: 'Allow' })).toBe('Allowed by Ann via Slack')
    expect(answerSummary({ ...a, answer: 'Allow for this session' })).toBe(
      'Allowed for this session by Ann via Slack',
    )
    expect(answerSummary({ ...a, answer: 'Deny' })).toBe('Denied by Ann via Slack')
    expect(answerSummary({ ...a, answer: 'use bun instead' })).toBe('Denied by Ann via Slack')
    expect(answerSummary({ by: 'Ann', via: 'slack', answer: 'Allow', options: ['Allow', 'Deny'] })).toBe(
      'Answered by Ann via Slack',
    )
  })
})

describe('AskUserQuestion answers', () => {
  const [single, multi] = readQuestions({
    questions: [
      { question: 'DB?', options: [{ label: 'PostgreSQL' }, { label: 'SQLite' }] },
      {
        question: 'Checks?',
        options: [{ label: 'Lint' }, { label: 'Types' }, { label: 'Tests' }],
        multiSelect: true,
      },
    ],
  })

  test('a button or a label typed in any case is the label; other words are kept as typed', () => {
    expect(answerText(single!, 'sqlite')).toBe('SQLite')
    expect(answerText(single!, 'MySQL, please')).toBe('MySQL, please')
  })

  test('a multi-select takes several labels, joined with ", "', () => {
    expect(answerText(multi!, 'tests\nlint')).toBe('Tests, Lint')
    expect(answerText(multi!, 'Lint, Lint')).toBe('Lint')
    expect(answerText(multi!, 'Lint and maybe Types')).toBe('Lint and maybe Types')
  })
})
