// The pure parts of the hooks: session ids and names, the approval question's Markdown (bounded,
// and fenced so agent input cannot break out of its block), AskUserQuestion answers, and how an
// answered approval reads on every copy.
import { describe, expect, test } from 'bun:test'
import { answerSummary } from '../../src/core/answer-wording.ts'
import { APPROVAL_OPTIONS, approvalQuestion, fenced } from '../../src/core/hooks/approval-text.ts'
import { answerText, readQuestions } from '../../src/core/hooks/ask-user.ts'
import { readHookPayload } from '../../src/core/hooks/payload.ts'
import { hookInstanceId, sessionName } from '../../src/core/hooks/session.ts'
import { isCompoundCommand, ruleCovers, sessionRules } from '../../src/core/session-approvals.ts'

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
    const { content } = approvalQuestion('Bash', { command: evil }, [])
    const block = fenced(evil, 'bash')
    expect(content).toContain(block)
    expect(block.startsWith('`````bash\n')).toBe(true)
    expect(block.endsWith('\n`````')).toBe(true)
  })

  test('the title is one bounded line; huge input is clipped', () => {
    const { content, summary } = approvalQuestion(
      'Bash',
      { command: `${'x'.repeat(50_000)}\nsecond line`, description: 'Line one\nline two' },
      [],
    )
    expect(content.split('\n')[0]).toBe(`Allow Bash: ${'x'.repeat(99)}…?`)
    expect(summary).toBe(`Bash: ${'x'.repeat(99)}…`)
    expect(content.length).toBeLessThan(7000)
    expect(content).toContain('more characters)')
  })

  test("Codex's apply_patch shows the patch as a diff", () => {
    const patch = '*** Begin Patch\n*** Update File: a.ts\n-old\n+new\n*** End Patch'
    const { content } = approvalQuestion('apply_patch', { command: patch }, [])
    expect(content).toStartWith(`Allow apply_patch: apply a patch?\n\n\`\`\`diff\n${patch}\n\`\`\``)
  })

  test("the title is the command itself; the description only follows it, as the agent's words", () => {
    const { content, summary } = approvalQuestion(
      'Bash',
      { command: 'rm -rf ~/work', description: 'List files' },
      [],
    )
    expect(content.split('\n')[0]).toBe('Allow Bash: rm -rf ~/work?')
    expect(content.split('\n\n')[1]).toBe('*The agent says:* List files')
    expect(summary).toBe('Bash: rm -rf ~/work')
  })

  test('the footer says what "Allow for this session" covers', () => {
    const rules = sessionRules('Bash', { command: 'npm test' }, [
      { type: 'addRules', behavior: 'allow', rules: [{ toolName: 'Bash', ruleContent: 'npm test:*' }] },
    ])
    expect(approvalQuestion('Bash', { command: 'npm test' }, rules).content).toContain(
      'also allows `Bash(npm test:*)` in this session',
    )
    const write = { file_path: '/a', content: '' }
    expect(approvalQuestion('Write', write, sessionRules('Write', write, [])).content).toContain(
      'also allows this exact Write call in this session',
    )
  })

  test('an answered approval reads "Allowed by …" or "Denied by …" on every copy; other questions do not', () => {
    const a = { by: 'Ann', via: 'slack', options: APPROVAL_OPTIONS }
    expect(answerSummary({ ...a, answer: 'Allow', pressed: true })).toBe('Allowed by Ann via Slack')
    expect(answerSummary({ ...a, answer: 'Allow for this session', pressed: true })).toBe(
      'Allowed for this session by Ann via Slack',
    )
    expect(answerSummary({ ...a, answer: 'Deny', pressed: true })).toBe('Denied by Ann via Slack')
    expect(answerSummary({ ...a, answer: 'use bun instead' })).toBe('Denied by Ann via Slack')
    // Only a button allows: typed "Allow" denied the tool, and every copy must say so.
    expect(answerSummary({ ...a, answer: 'Allow', pressed: false })).toBe('Denied by Ann via Slack')
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

describe('what "Allow for this session" remembers', () => {
  const bash = (command: string) => ({ command })
  const suggest = (toolName: string, ruleContent?: string) => [
    { type: 'addRules', behavior: 'allow', destination: 'session', rules: [{ toolName, ruleContent }] },
  ]

  test("exactly Claude Code's suggested rule: a prefix covers its own words, not the program", () => {
    const [rule] = sessionRules('Bash', bash('git status'), suggest('Bash', 'git status:*'))
    expect(rule).toEqual({ tool: 'Bash', rule: 'git status:*' })
    expect(ruleCovers(rule!, 'Bash', bash('git status'))).toBe(true)
    expect(ruleCovers(rule!, 'Bash', bash('git status --short'))).toBe(true)
    expect(ruleCovers(rule!, 'Bash', bash('git statusx'))).toBe(false)
    expect(ruleCovers(rule!, 'Bash', bash('git push --force'))).toBe(false)
    expect(ruleCovers(rule!, 'Write', { file_path: '/a' })).toBe(false)
  })

  test('a prefix or pattern never covers a compound command', () => {
    for (const tail of [
      '; rm -rf ~',
      ' && rm -rf ~',
      ' || rm -rf ~',
      ' | sh',
      ' `rm -rf ~`',
      ' $(rm -rf ~)',
      '\nrm -rf ~',
      ' > ~/.bashrc',
      ' < /etc/passwd',
      ' & rm -rf ~',
    ])
      expect([tail, isCompoundCommand(`git status${tail}`)]).toEqual([tail, true])
    for (const content of ['git status:*', 'git *', undefined]) {
      const [rule] = sessionRules('Bash', bash('git status'), suggest('Bash', content))
      expect(ruleCovers(rule!, 'Bash', bash('git status; rm -rf ~'))).toBe(false)
      expect(ruleCovers(rule!, 'Bash', bash('git status $(rm -rf ~)'))).toBe(false)
    }
  })

  test('wildcard patterns as Claude Code reads them', () => {
    const rule = { tool: 'Bash', rule: 'ls *' }
    expect(ruleCovers(rule, 'Bash', bash('ls'))).toBe(true)
    expect(ruleCovers(rule, 'Bash', bash('ls -la /tmp'))).toBe(true)
    expect(ruleCovers(rule, 'Bash', bash('lsof'))).toBe(false)
    expect(ruleCovers({ tool: 'Bash', rule: 'npm run build' }, 'Bash', bash('npm run build'))).toBe(true)
    expect(ruleCovers({ tool: 'Bash', rule: 'npm run build' }, 'Bash', bash('npm run build:prod'))).toBe(
      false,
    )
  })

  test('without suggestions: exactly this call, any tool', () => {
    const [rule] = sessionRules('Bash', bash('git status'), null)
    expect(rule).toEqual({ tool: 'Bash', exact: 'git status' })
    expect(ruleCovers(rule!, 'Bash', bash('git status'))).toBe(true)
    expect(ruleCovers(rule!, 'Bash', bash('git status -s'))).toBe(false)
    // A setMode suggestion is no rule: the exact call is kept.
    const write = { file_path: '/repo/a.ts', content: 'x' }
    const [w] = sessionRules('Write', write, [
      { type: 'setMode', mode: 'acceptEdits', destination: 'session' },
    ])
    expect(ruleCovers(w!, 'Write', { content: 'x', file_path: '/repo/a.ts' })).toBe(true)
    expect(ruleCovers(w!, 'Write', { file_path: '/repo/b.ts', content: 'x' })).toBe(false)
    expect(ruleCovers(w!, 'Write', { file_path: '/repo/a.ts', content: 'y' })).toBe(false)
  })

  test('path and domain rules cover what they name; rules that cannot be placed cover nothing', () => {
    const cwd = '/repo'
    const edit = (file_path: string) => ({ file_path, old_string: 'a', new_string: 'b' })
    const src = { tool: 'Edit', rule: './src/**' }
    expect(ruleCovers(src, 'Edit', edit('/repo/src/a/b.ts'), { cwd })).toBe(true)
    expect(ruleCovers(src, 'Edit', edit('/repo/package.json'), { cwd })).toBe(false)
    expect(ruleCovers(src, 'Edit', edit('/repo/src/../.env'), { cwd })).toBe(false)
    expect(ruleCovers({ tool: 'Edit', rule: '//tmp/*.txt' }, 'Edit', edit('/tmp/a.txt'))).toBe(true)
    expect(ruleCovers({ tool: 'Edit', rule: '//tmp/*.txt' }, 'Edit', edit('/tmp/a/b.txt'))).toBe(false)
    expect(ruleCovers({ tool: 'Edit', rule: '~/x/**' }, 'Edit', edit('/home/a/x/y'), { cwd })).toBe(false)
    const fetch = { tool: 'WebFetch', rule: 'domain:example.com' }
    expect(ruleCovers(fetch, 'WebFetch', { url: 'https://example.com/a' })).toBe(true)
    expect(ruleCovers(fetch, 'WebFetch', { url: 'https://example.com.evil.io/a' })).toBe(false)
    expect(ruleCovers({ tool: 'mcp__x__y', rule: 'anything' }, 'mcp__x__y', {})).toBe(false)
  })
})
