// Question formats understood on every channel: explicit `options`, Omnara's trailing `[YES/NO]`,
// and a trailing `[OPTIONS]\n1. …\n[/OPTIONS]` block. Options become buttons; a button's answer is
// exactly the option's text.

export type ParsedQuestion = { text: string; options: string[] | null }

const YES_NO = /\n*\[YES\/NO\]\s*$/
const OPTIONS_BLOCK = /\[OPTIONS\]\n*([\s\S]*?)\n*\[\/OPTIONS\]\s*$/
const OPTION_LINE = /^\s*\d+\.\s*(.+?)\s*$/

export function parseQuestion(content: string, explicit?: readonly string[] | null): ParsedQuestion {
  if (explicit && explicit.length > 0) return { text: content.trim(), options: [...explicit] }
  if (YES_NO.test(content)) return { text: content.replace(YES_NO, '').trim(), options: ['Yes', 'No'] }
  const block = OPTIONS_BLOCK.exec(content)
  if (block) {
    const options = (block[1] ?? '')
      .split('\n')
      .map((line) => OPTION_LINE.exec(line)?.[1])
      .filter((o): o is string => Boolean(o))
    return { text: content.slice(0, block.index).trim(), options: options.length > 0 ? options : null }
  }
  return { text: content.trim(), options: null }
}
