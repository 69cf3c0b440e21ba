// The one wording of an answered or closed question, and of an answer that did not count: the
// same words on the dashboard and on every chat copy. Plain text: each channel escapes it for its
// own markup.
import type { AnswerOutcome, QuestionToAnswer } from './answers.ts'
import { chatChannelLabel } from './chat-channels.ts'
import { approvalVerb } from './hooks/approval-text.ts'

/** `answered_via` of a question closed without an answer. */
export const CLOSED_VIA = 'closed'

/** Why a question whose timeout passed is closed. */
export const TIMED_OUT = 'timed out before anyone answered'

/** Why a hook's question is closed when the agent stopped waiting. */
export const CLOSED_AT_TERMINAL = 'answered at the terminal or timed out'

/** Where an answer can come from besides a chat channel, and how each reads. */
const ANSWER_SOURCES: Record<string, string> = {
  web: 'the dashboard',
  api: 'the API',
  cli: 'the CLI',
  mcp: 'MCP',
  terminal: 'the terminal',
}

/**
 * "the dashboard", "Slack" … for an answered_via value: an answer source, else the label the chat
 * channel's adapter gave; a name nothing described (a channel no longer wired) reads capitalised.
 */
export function viaLabel(via: string | null): string {
  if (!via) return 'an unknown channel'
  return ANSWER_SOURCES[via] ?? chatChannelLabel(via) ?? via.charAt(0).toUpperCase() + via.slice(1)
}

const when = (at: Date | string | null | undefined) => {
  if (!at) return ''
  const d = new Date(at)
  return Number.isNaN(d.getTime()) ? '' : ` · ${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/**
 * How an answered or closed question reads on every channel and on the dashboard:
 * "Answered by Ann via Slack · 2026-12-03 12:03 UTC", "Closed: answered at the terminal or timed out".
 */
export function answerSummary(a: {
  by: string | null
  via: string | null
  at?: Date | string | null
  reason?: string | null
  /** The answer and the question's options: an approval reads "Allowed by …" / "Denied by …". */
  answer?: string | null
  options?: readonly string[] | null
  /** Whether the answer was a button press (only a button allows an approval). */
  pressed?: boolean | null
}): string {
  if (a.via === CLOSED_VIA) return `Closed: ${a.reason ?? CLOSED_AT_TERMINAL}${when(a.at)}`
  const verb = approvalVerb(a.options, a.answer, a.pressed === true) ?? 'Answered'
  return `${verb} by ${a.by ?? 'someone'} via ${viaLabel(a.via)}${when(a.at)}`
}

/**
 * What to tell the person whose answer did not count (or whose reply form cannot open); null when
 * it did count. The same words on every channel.
 */
export function answerNotice(outcome: AnswerOutcome | QuestionToAnswer): string | null {
  if (outcome.status === 'answered' || outcome.status === 'open') return null
  if (outcome.status === 'refused') return outcome.message
  const head =
    outcome.status === 'already'
      ? `Already ${lowerFirst(answerSummary(outcome.first))}.`
      : `This question is closed: ${outcome.first.reason ?? CLOSED_AT_TERMINAL}.`
  if (!('messageId' in outcome)) return head
  return outcome.messageId ? `${head} Your reply was kept as a message.` : `${head} Your choice was not sent.`
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1)
