// Block Kit for Parley's Slack messages, as pure functions of what the outbox read: a question
// with one button per option and a Reply button, the same message locked after the answer, the
// per-instance progress message, and the reply modal. Agent text is untrusted: it is mrkdwn-escaped
// everywhere, so it can format but never mention @channel or forge links.
import type { types } from '@slack/bolt'
import { parseQuestion } from '../../src/core/questions.ts'
import type { DeliveryJob } from '../../src/notify/channel.ts'
import { type MarkdownPart, renderWithin } from '../markdown.ts'

type Block = types.KnownBlock

export const OPTION_ACTION = /^parley\.option\.\d+$/
export const REPLY_ACTION = 'parley.reply'
export const REPLY_VIEW = 'parley.reply'
export const ANSWER_BLOCK = 'answer'
export const STEER_ACTION = /^parley\.steer\.\d+$/

/** Slack mrkdwn control characters: `&`, `<` and `>` are the only ones that must be escaped. */
export const escapeMrkdwn = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
/** Message and command text arrives escaped the same way; answers are stored as the person typed them. */
export const unescapeMrkdwn = (text: string) =>
  text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')

/** Slack has no longer fences: a run of three backticks inside code is broken up so it cannot close it. */
const unfenced = (code: string) => code.replace(/`(?=``)/g, '`\u200b')

function mrkdwnPart(part: MarkdownPart, before: string): string {
  const text = escapeMrkdwn(part.text)
  switch (part.kind) {
    case 'text':
      return text
    case 'bold':
      return `*${text}*`
    case 'em':
      return `_${text}_`
    case 'code':
      return part.text.includes('`') ? text : `\`${text}\``
    case 'block': {
      // Slack shows a language tag as a line of code: it is left out. A fence starts its own line.
      const lead = before === '' || before.endsWith('\n') ? '' : '\n'
      return `${lead}\`\`\`\n${escapeMrkdwn(unfenced(part.text))}\n\`\`\``
    }
  }
}

/** An agent's Markdown (code fences, bold, inline code) as mrkdwn, the rest escaped; at most `max` chars. */
export const markdownToMrkdwn = (text: string, max = 3000) => renderWithin(text, max, mrkdwnPart)

const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)
const plain = (text: string, max = 150) => ({
  type: 'plain_text' as const,
  text: cut(text, max),
  emoji: true,
})
const mrkdwn = (text: string, max = 3000) => ({ type: 'mrkdwn' as const, text: cut(text, max) })
/**
 * A message's top-level `text`: what notifications and previews show. Slack parses it as mrkdwn
 * too, so it is escaped like everything else (no forged links or @channel in a notification).
 */
const fallback = (text: string) => escapeMrkdwn(cut(text, 300))

/** Option button values: the question id and the option's index; the answer is read from the database. */
export const optionValue = (questionId: string, index: number) => `${questionId}:${index}`
export function parseOptionValue(value: string): { questionId: string; option: number } | null {
  const m = /^([0-9a-f-]{36}):(\d{1,3})$/i.exec(value)
  return m ? { questionId: m[1]!, option: Number(m[2]) } : null
}

const who = (instance: DeliveryJob['instance']) =>
  instance.name ? `${instance.agentType} · ${instance.name}` : instance.agentType

type InstanceName = { id: string; name: string | null; agentType: string }
/** "codex · repo" (or the start of the id when unnamed), for telling instances apart; plain text. */
export const instanceLabel = (i: InstanceName) => `${i.agentType} · ${i.name ?? i.id.slice(0, 8)}`

/** Agent-picker button values: the instance, and the ts of the person's message it is to carry. */
export const steerValue = (instanceId: string, ts: string) => `${instanceId}:${ts}`
export function parseSteerValue(value: string): { instanceId: string; ts: string } | null {
  const m = /^([0-9a-f-]{36}):(\d+\.\d+)$/i.exec(value)
  return m ? { instanceId: m[1]!, ts: m[2]! } : null
}

/** "Which agent is this for?": one button per running instance, for the message sent at `ts`. */
export function agentPicker(
  instances: readonly InstanceName[],
  ts: string,
): { text: string; blocks: Block[] } {
  const text = `${instances.length} agents are running. Which one is this message for?`
  const buttons = instances.slice(0, 25).map((i, n) => ({
    type: 'button' as const,
    action_id: `parley.steer.${n}`,
    text: plain(instanceLabel(i), 75),
    value: steerValue(i.id, ts),
  }))
  return {
    text,
    blocks: [
      { type: 'section', text: mrkdwn(text) },
      { type: 'actions', block_id: 'parley.steer', elements: buttons },
    ],
  }
}

function intro(job: DeliveryJob): Block[] {
  const question = parseQuestion(job.message.content).text
  return [
    { type: 'header', text: plain(`${job.instance.agentType} asks`) },
    {
      type: 'context',
      elements: [mrkdwn(`*${escapeMrkdwn(who(job.instance))}* · <${job.instance.url}|Open in Parley>`, 2000)],
    },
    { type: 'section', text: mrkdwn(markdownToMrkdwn(question) || '_(empty question)_') },
  ]
}

export function questionMessage(job: DeliveryJob): { text: string; blocks: Block[] } {
  const options = job.message.options ?? parseQuestion(job.message.content).options ?? []
  const buttons = [
    ...options.map((option, i) => ({
      type: 'button' as const,
      action_id: `parley.option.${i}`,
      text: plain(option, 75),
      value: optionValue(job.message.id, i),
    })),
    { type: 'button' as const, action_id: REPLY_ACTION, text: plain('Reply…'), value: job.message.id },
  ]
  // An actions block holds at most 25 elements.
  const actions: Block[] = []
  for (let i = 0; i < buttons.length; i += 25) {
    actions.push({ type: 'actions', block_id: `parley.answer.${i / 25}`, elements: buttons.slice(i, i + 25) })
  }
  const question = parseQuestion(job.message.content, job.message.options).text
  return {
    text: fallback(`${who(job.instance)} asks: ${question}`),
    blocks: [...intro(job), ...actions],
  }
}

/** A locked copy's line: the one wording (who, via, when, or closed), then the answer (plain text). */
const plainLine = (job: Pick<DeliveryJob, 'summary' | 'answer'>) => {
  const summary = job.summary ?? 'Answered'
  return job.answer ? `${summary}: ${job.answer.content}` : summary
}

/** A locked copy's line as mrkdwn. */
export const answeredLine = (job: Pick<DeliveryJob, 'summary' | 'answer'>): string =>
  escapeMrkdwn(plainLine(job))

/** The question with its buttons replaced by who answered, how, when and the answer. */
export function answeredMessage(job: DeliveryJob): { text: string; blocks: Block[] } {
  const line = answeredLine(job)
  const icon = job.answer ? ':white_check_mark:' : ':lock:'
  return {
    text: fallback(`${who(job.instance)}: ${plainLine(job)}`),
    blocks: [...intro(job), { type: 'section', text: mrkdwn(`${icon} ${line}`) }],
  }
}

/** The one status message per instance, edited in place; ends with a session-ended note. */
export function progressMessage(job: DeliveryJob): { text: string; blocks: Block[] } {
  const ended = job.instance.ended
  const state = ended
    ? `Session ended (${job.instance.status.toLowerCase()})`
    : job.instance.status.toLowerCase()
  const head = `*${escapeMrkdwn(who(job.instance))}* · ${escapeMrkdwn(state)}`
  return {
    text: fallback(`${who(job.instance)}: ${state}`),
    blocks: [
      { type: 'section', text: mrkdwn(`${head}\n${markdownToMrkdwn(job.message.content, 2500)}`) },
      { type: 'context', elements: [mrkdwn(`<${job.instance.url}|Open in Parley>`)] },
    ],
  }
}

export function replyModal(questionId: string, question: string): types.View {
  return {
    type: 'modal',
    callback_id: REPLY_VIEW,
    private_metadata: questionId,
    title: plain('Reply', 24),
    submit: plain('Send', 24),
    close: plain('Cancel', 24),
    blocks: [
      { type: 'section', text: mrkdwn(markdownToMrkdwn(question) || '_(empty question)_') },
      {
        type: 'input',
        block_id: ANSWER_BLOCK,
        label: plain('Your answer'),
        element: { type: 'plain_text_input', action_id: ANSWER_BLOCK, multiline: true },
      },
    ],
  }
}
