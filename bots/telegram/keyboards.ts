// Inline keyboards for questions: one button per option, then a button asking for a free-text
// answer; and the "which question?" picker for a bare message when several are open.
import { InlineKeyboard } from 'grammy'
import type { OpenQuestion } from '../../src/core/links.ts'
import { encodeCallback } from './render.ts'

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
