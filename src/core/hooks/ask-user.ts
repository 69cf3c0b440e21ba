// AskUserQuestion through PreToolUse: each of the agent's questions is asked in turn with its
// option labels as buttons (one at a time, so a typed reply answers exactly one), and once all are
// answered the hook allows the tool with `answers` {question text: label} added to its input, which
// Claude Code hands to the model instead of showing its own dialog.
import { InvalidInput } from '../../errors.ts'
import type { Core } from '../context.ts'
import { askHookQuestion, awaitHookAnswer, type Hold, type HookAnswer } from './questions.ts'
import type { HookSession } from './session.ts'

export type Question = {
  question: string
  header: string
  labels: string[]
  descriptions: string[]
  multi: boolean
}

const MAX_BUTTONS = 20
const BUTTON_CHARS = 200

/** The tool input's questions, checked (422 naming the field when the agent sent something else). */
export function readQuestions(input: Record<string, unknown>): Question[] {
  const raw = input.questions
  if (!Array.isArray(raw) || raw.length === 0)
    throw new InvalidInput('tool_input.questions', 'tool_input.questions: must be a non-empty array')
  return raw.map((q, i) => {
    const field = `tool_input.questions.${i}`
    if (!q || typeof q !== 'object') throw new InvalidInput(field, `${field}: must be an object`)
    const { question, header, options, multiSelect } = q as Record<string, unknown>
    if (typeof question !== 'string' || !question.trim())
      throw new InvalidInput(`${field}.question`, `${field}.question: must be a non-empty string`)
    const opts = Array.isArray(options) ? options : []
    const labels = opts.map((o) => String((o as { label?: unknown })?.label ?? o ?? '').trim())
    return {
      question,
      header: typeof header === 'string' ? header.trim() : '',
      labels,
      descriptions: opts.map((o) => String((o as { description?: unknown })?.description ?? '').trim()),
      multi: multiSelect === true,
    }
  })
}

function content(q: Question): string {
  const lines = [q.header ? `**${q.header}** · ${q.question}` : q.question, '']
  q.labels.forEach((label, i) => {
    const d = q.descriptions[i]
    lines.push(`- **${label}**${d ? ` — ${d}` : ''}`)
  })
  if (q.multi) lines.push('', 'Several may be chosen: reply with the labels separated by commas.')
  return lines.join('\n').trim()
}

/** A reply as the agent expects it: exact labels (joined with ", " for a multi-select), else as typed. */
export function answerText(q: Question, reply: string): string {
  const text = reply.trim()
  const label = (part: string) => q.labels.find((l) => l.toLowerCase() === part.trim().toLowerCase())
  if (!q.multi) return label(text) ?? text
  const parts = text.split(/[,\n]/).filter((p) => p.trim())
  const labels = parts.map(label)
  return parts.length > 0 && labels.every(Boolean) ? [...new Set(labels)].join(', ') : text
}

/**
 * The answers keyed by question text and who gave the last one, or null when one was not answered
 * in time.
 */
export async function askUserQuestions(
  core: Core,
  s: HookSession,
  questions: Question[],
  hold: Hold,
): Promise<{ answers: Record<string, string>; last: HookAnswer } | null> {
  const answers: Record<string, string> = {}
  let last: HookAnswer | null = null
  for (const q of questions) {
    const options = q.labels.filter((l) => l && l.length <= BUTTON_CHARS).slice(0, MAX_BUTTONS)
    const questionId = await askHookQuestion(core, s, {
      content: content(q),
      options,
      meta: {
        agent: s.agent,
        event: 'PreToolUse',
        kind: 'ask',
        tool: 'AskUserQuestion',
        summary: q.question.slice(0, 200),
      },
    })
    const answer = await awaitHookAnswer(core, s, questionId, hold)
    if (!answer) return null
    answers[q.question] = answerText(q, answer.content)
    last = answer
  }
  return last ? { answers, last } : null
}
