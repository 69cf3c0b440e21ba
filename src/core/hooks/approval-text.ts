// The text of an approval question: "Allow <tool>: <what it will do>?" and the tool input made
// readable in plain Markdown (a Bash command as code, an edit as a diff, a new file as a preview,
// anything else as JSON), so the dashboard, Slack and Telegram all show it without special code.
// Agent input is untrusted and may be huge: every part is bounded.

import { ruleLabel, type SessionRule } from '../session-approvals.ts'

export const APPROVAL_OPTIONS = ['Allow', 'Allow for this session', 'Deny'] as const
export type ApprovalOption = (typeof APPROVAL_OPTIONS)[number]

/**
 * The option an answer names: exactly its text, as a button sends it. Typed words never allow
 * (approval.ts), so "allow" typed in any other case reads as the denial it is.
 */
export function pickedOption(answer: string): ApprovalOption | null {
  const text = answer.trim()
  return APPROVAL_OPTIONS.find((o) => o === text) ?? null
}

/** An approval is a question with exactly the approval options, in order. */
export const isApproval = (options: readonly string[] | null | undefined): boolean =>
  options?.length === APPROVAL_OPTIONS.length && options.every((o, i) => o === APPROVAL_OPTIONS[i])

/**
 * How an answered approval reads ("Allowed", "Allowed for this session", "Denied"); null for any
 * other question. An approval is a question with exactly the approval options.
 */
export function approvalVerb(
  options: readonly string[] | null | undefined,
  answer: string | null | undefined,
  /** Whether the answer was a button press: typed words deny, even when they read "Allow". */
  pressed: boolean,
) {
  if (!isApproval(options)) return null
  if (!pressed) return 'Denied'
  const picked = pickedOption(answer ?? '')
  if (picked === 'Allow') return 'Allowed'
  if (picked === 'Allow for this session') return 'Allowed for this session'
  return 'Denied'
}

const TITLE_CHARS = 100
const BLOCK_CHARS = 6000
const PREVIEW_LINES = 40

const str = (v: unknown): string => (typeof v === 'string' ? v : '')

/** One line, at most `n` characters. */
function oneLine(text: string, n = TITLE_CHARS): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length > n ? `${line.slice(0, n - 1)}…` : line
}

function clip(text: string, chars = BLOCK_CHARS): string {
  return text.length > chars ? `${text.slice(0, chars)}\n… (${text.length - chars} more characters)` : text
}

/** A fenced block whose fence is longer than any backtick run inside, so the input cannot close it. */
export function fenced(text: string, lang = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const fence = '`'.repeat(longest + 1)
  return `${fence}${lang}\n${text}\n${fence}`
}

const prefixed = (text: string, mark: string) =>
  text === '' ? [] : text.split('\n').map((l) => `${mark}${l}`)

function diff(edits: { old: string; new: string }[]): string {
  const hunks = edits.map((e) => ['@@', ...prefixed(e.old, '-'), ...prefixed(e.new, '+')].join('\n'))
  return fenced(clip(hunks.join('\n')), 'diff')
}

function json(value: unknown): string {
  let text: string
  try {
    text = JSON.stringify(value, null, 2) ?? 'null'
  } catch {
    text = String(value)
  }
  return fenced(clip(text), 'json')
}

/** `what` is read from the input itself; `said` is the agent's own account, shown below it. */
type Rendered = { what: string; body: string; said?: string }

function render(tool: string, input: Record<string, unknown>): Rendered {
  const path = str(input.file_path) || str(input.path) || str(input.notebook_path)
  switch (tool) {
    case 'Bash': {
      // The title is the command itself: the model's description may say anything about it.
      const command = str(input.command)
      return {
        what: oneLine(command) || 'an empty command',
        body: fenced(clip(command), 'bash'),
        said: oneLine(str(input.description), 200),
      }
    }
    case 'Edit':
      return {
        what: `edit ${oneLine(path)}`,
        body: diff([{ old: str(input.old_string), new: str(input.new_string) }]),
      }
    case 'MultiEdit': {
      const edits = Array.isArray(input.edits) ? (input.edits as Record<string, unknown>[]) : []
      return {
        what: `${edits.length} edits to ${oneLine(path)}`,
        body: diff(edits.map((e) => ({ old: str(e?.old_string), new: str(e?.new_string) }))),
      }
    }
    case 'Write': {
      const content = str(input.content)
      const lines = content.split('\n')
      const more = lines.length > PREVIEW_LINES ? `\n… (${lines.length - PREVIEW_LINES} more lines)` : ''
      return {
        what: `write ${oneLine(path)}`,
        // A fence opens a line of its own: after "File:" on the same line it would not be one.
        body: `**File:**\n\n${fenced(path)}\n\n${fenced(clip(lines.slice(0, PREVIEW_LINES).join('\n')))}${more}`,
      }
    }
    case 'apply_patch':
      // Codex's file edits: the patch text as it will be applied.
      return { what: 'apply a patch', body: fenced(clip(str(input.command) || str(input.patch)), 'diff') }
    case 'ExitPlanMode':
      // The plan is the agent's own Markdown: shown as such, not as JSON.
      return { what: 'start on this plan', body: clip(str(input.plan)) }
    default: {
      const target = path || str(input.url) || str(input.command) || str(input.pattern) || str(input.query)
      return { what: oneLine(target), body: json(input) }
    }
  }
}

/**
 * The question an approval asks, and a one-line summary of the tool call for the record, both
 * read from the input itself; `remembers` is what "Allow for this session" would keep.
 */
export function approvalQuestion(
  tool: string,
  input: Record<string, unknown>,
  remembers: readonly SessionRule[],
): { content: string; summary: string } {
  const { what, body, said } = render(tool, input)
  const name = oneLine(tool, 60)
  const title = what ? `Allow ${name}: ${what}?` : `Allow ${name}?`
  const saidLine = said ? `\n\n*The agent says:* ${said}` : ''
  const scope = remembers
    .map((r) => (r.rule === undefined ? ruleLabel(r) : `\`${oneLine(ruleLabel(r), 80).replace(/`/g, "'")}\``))
    .join(', ')
  const footer = `*${APPROVAL_OPTIONS[1]}* also allows ${scope || 'this exact call'} in this session without asking.`
  return { content: `${title}${saidLine}\n\n${body}\n\n${footer}`, summary: title.slice(6, -1) }
}
