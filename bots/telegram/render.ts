// What Parley's Telegram messages say. Everything from an agent or a person is escaped for
// Telegram's HTML parse mode (only &, < and > are special there), and cut to fit the 4096-char
// limit. Button data is a short opaque code: Telegram allows 64 bytes of callback_data.
import { parseQuestion } from '../../src/core/questions.ts'
import type { DeliveryJob } from '../../src/notify/channel.ts'
import { clip, instanceLabel, instanceName, questionLink } from '../../src/notify/jobs.ts'
import { type MarkdownPart, renderWithin } from '../markdown.ts'

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

const TAGS = { bold: 'b', em: 'i', code: 'code' } as const

function htmlPart(part: MarkdownPart): string {
  if (part.kind === 'text') return esc(part.text)
  if (part.text === '') return ''
  if (part.kind === 'block') {
    // The language is word characters only (see markdown.ts): safe inside the attribute.
    const lang = part.lang ? ` class="language-${part.lang}"` : ''
    return `<pre><code${lang}>${esc(part.text)}</code></pre>`
  }
  const tag = TAGS[part.kind]
  return `<${tag}>${esc(part.text)}</${tag}>`
}

/**
 * An agent's Markdown (code fences, bold, inline code) as Telegram HTML, everything else escaped;
 * at most `max` characters of HTML, so the message stays inside Telegram's 4096.
 */
export const markdownToHtml = (text: string, max: number) => renderWithin(text, max, htmlPart)

export { questionLink }

/**
 * The question id inside a message's links (our question copies and reply prompts carry one).
 * Copies sent before the link pointed at the page's element say `#m-<id>`: they still match.
 */
export function questionIdFromLinks(urls: readonly string[]): string | null {
  for (const url of urls) {
    const m = /\/instances\/[0-9a-f-]{36}#(?:msg|m)-([0-9a-f-]{36})$/i.exec(url)
    if (m) return m[1]!.toLowerCase()
  }
  return null
}

export { instanceLabel }

function heading(job: Pick<DeliveryJob, 'instance'>, icon: string) {
  return `${icon} <b>${esc(clip(job.instance.agentType, 60))}</b> · ${esc(instanceName(job.instance))}`
}

/** A question copy: heading, the question, a line below it, and the link that maps replies back. */
function questionCard(job: DeliveryJob, icon: string, below: string): string {
  const text = parseQuestion(job.message.content, job.message.options).text
  return [
    heading(job, icon),
    '',
    markdownToHtml(text, 3000),
    '',
    below,
    `<a href="${esc(questionLink(job.instance.url, job.message.id))}">Open in Parley</a>`,
  ].join('\n')
}

export function questionText(job: DeliveryJob): string {
  const hint = job.message.options?.length
    ? 'Tap an option, or reply to this message to answer in your own words.'
    : 'Reply to this message to answer.'
  return questionCard(job, '❓', `<i>${hint}</i>`)
}

/** The question copy after an answer (or after it was closed): the one wording, the answer; no buttons. */
export function lockedText(job: DeliveryJob): string {
  const line = esc(job.summary ?? 'Answered')
  const a = job.answer
  const below = a ? `✅ ${line}:\n<blockquote>${esc(clip(a.content, 400))}</blockquote>` : `🔒 ${line}`
  return questionCard(job, '✔️', below)
}

export function progressText(job: DeliveryJob): string {
  const state = job.instance.ended ? `Session ended (${job.instance.status.toLowerCase()})` : 'Working…'
  return [
    heading(job, job.instance.ended ? '🏁' : '⏳'),
    `<i>${esc(state)}</i>`,
    '',
    markdownToHtml(job.message.content, 1500),
    `<a href="${esc(job.instance.url)}">Open in Parley</a>`,
  ].join('\n')
}

export function endedNote(job: DeliveryJob): string {
  return `🏁 ${heading(job, '').trim()} — session ended. <a href="${esc(job.instance.url)}">Open in Parley</a>`
}

// Callback data: "a:<question>:<option>" answers, "p:<question>" picks the question a bare
// message answers, "r:<question>" asks for a free-text reply, "s:<instance>" picks the instance a
// bare message is for. An id is its 16 bytes in base64url (22 chars), so the longest is 27 bytes,
// well inside Telegram's 64.
export type Callback =
  | { kind: 'answer'; questionId: string; option: number }
  | { kind: 'pick'; questionId: string }
  | { kind: 'reply'; questionId: string }
  | { kind: 'steer'; instanceId: string }

const packId = (uuid: string) => Buffer.from(uuid.replace(/-/g, ''), 'hex').toString('base64url')

function unpackId(code: string): string | null {
  const hex = Buffer.from(code, 'base64url').toString('hex')
  if (hex.length !== 32) return null
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export function encodeCallback(c: Callback): string {
  if (c.kind === 'answer') return `a:${packId(c.questionId)}:${c.option}`
  if (c.kind === 'steer') return `s:${packId(c.instanceId)}`
  return `${c.kind === 'pick' ? 'p' : 'r'}:${packId(c.questionId)}`
}

export function decodeCallback(data: string): Callback | null {
  const [k, code, opt] = data.split(':')
  const id = code ? unpackId(code) : null
  if (!id) return null
  if (k === 'a') {
    const option = Number(opt)
    return Number.isInteger(option) && option >= 0 ? { kind: 'answer', questionId: id, option } : null
  }
  if (k === 'p') return { kind: 'pick', questionId: id }
  if (k === 'r') return { kind: 'reply', questionId: id }
  if (k === 's') return { kind: 'steer', instanceId: id }
  return null
}
