// Inline keyboards for questions: one button per option, then a button asking for a free-text
// answer; the "which question?" picker for a bare message when several are open, and the "which
// agent?" picker when none is open and several agents run.
import { InlineKeyboard } from 'grammy'
import type { OpenQuestion } from '../../src/core/links.ts'
import { encodeCallback, instanceLabel } from './render.ts'

const label = (s: string, max = 60) => (s.length > max ? `${s.slice(0, max - 1)}…` : s)

export function optionsKeyboard(questionId: string, options: readonly string[]): InlineKeyboard {
  const kb = new InlineKeyboard()
  options.forEach((option, i) => {
    kb.text(label(option), encodeCallback({ kind: 'answer', questionId, option: i })).row()
  })
  return kb.text('✍️ Answer in my own words', encodeCallback({ kind: 'reply', questionId }))
}

export function pickerKeyboard(questions: readonly OpenQuestion[]): InlineKeyboard {
  const kb = new InlineKeyboard()
  for (const q of questions.slice(0, 10)) {
    kb.text(
      label(`${q.agentType}: ${q.question}`, 50),
      encodeCallback({ kind: 'pick', questionId: q.id }),
    ).row()
  }
  return kb
}

export function instancePickerKeyboard(
  instances: readonly { id: string; name: string | null; agentType: string }[],
): InlineKeyboard {
  const kb = new InlineKeyboard()
  for (const i of instances.slice(0, 10)) {
    kb.text(label(instanceLabel(i), 50), encodeCallback({ kind: 'steer', instanceId: i.id })).row()
  }
  return kb
}
