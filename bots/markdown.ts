// The Markdown that questions carry (an approval's code fences, `**File:**`, `inline code`,
// `*emphasis*`), split into parts each chat adapter renders in its own markup. Anything else stays
// text, which the adapter escapes as it always does. Parts are cut from the source, never from
// rendered markup, so a cut can never split a tag, an entity or a fence.

export type MarkdownPart =
  | { kind: 'text' | 'bold' | 'em' | 'code'; text: string }
  | { kind: 'block'; lang: string; text: string }

const OPENING = /^([\w+#.-]{0,32})[ \t]*\n/

/** The end of a backtick run starting at `from`, and the next run of exactly `n` backticks after `start`. */
const runEnd = (s: string, from: number) => {
  let i = from
  while (s[i] === '`') i++
  return i
}
function closingRun(s: string, n: number, start: number, stopAtLine: boolean): number {
  for (let i = start; i < s.length; i++) {
    if (stopAtLine && s[i] === '\n') return -1
    if (s[i] !== '`') continue
    const end = runEnd(s, i)
    if (end - i === n) return i
    i = end - 1
  }
  return -1
}

/** `**bold**` or `*em*` at `i`: same line, no space just inside the marks. */
function emphasis(s: string, i: number): { kind: 'bold' | 'em'; text: string; end: number } | null {
  const mark = s.startsWith('**', i) ? '**' : '*'
  const from = i + mark.length
  const close = s.indexOf(mark, from)
  const newline = s.indexOf('\n', from)
  if (close <= from || (newline !== -1 && newline < close)) return null
  const text = s.slice(from, close)
  if (/^\s|\s$/.test(text) || (mark === '*' && text.includes('*'))) return null
  return { kind: mark === '**' ? 'bold' : 'em', text, end: close + mark.length }
}

export function markdownParts(source: string): MarkdownPart[] {
  const parts: MarkdownPart[] = []
  let text = ''
  const flush = () => {
    if (text) parts.push({ kind: 'text', text })
    text = ''
  }
  let i = 0
  while (i < source.length) {
    const c = source[i]!
    if (c === '`') {
      const end = runEnd(source, i)
      const n = end - i
      const opening = n >= 3 ? OPENING.exec(source.slice(end, end + 40)) : null
      if (opening) {
        // A fence: its content runs to a line of exactly the same backticks (or to the end).
        const body = end + opening[0].length
        const close = closingRun(source, n, body, false)
        const stop = close === -1 ? source.length : close
        flush()
        parts.push({ kind: 'block', lang: opening[1]!, text: source.slice(body, stop).replace(/\n$/, '') })
        i = close === -1 ? source.length : close + n
        if (source[i] === '\n') i++
        continue
      }
      const close = closingRun(source, n, end, true)
      if (close > end) {
        flush()
        parts.push({ kind: 'code', text: source.slice(end, close) })
        i = close + n
        continue
      }
      text += source.slice(i, end)
      i = end
      continue
    }
    const marked = c === '*' ? emphasis(source, i) : null
    if (marked) {
      flush()
      parts.push({ kind: marked.kind, text: marked.text })
      i = marked.end
      continue
    }
    text += c
    i++
  }
  flush()
  return parts
}

/** A prefix of `s` at most `n` UTF-16 units long that does not split a surrogate pair. */
function prefix(s: string, n: number): string {
  const cut = s.slice(0, n)
  const last = cut.charCodeAt(cut.length - 1)
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut
}

/**
 * Renders the parts one by one while the output stays within `max` characters; the part that does
 * not fit is rendered from a shortened source ending in "…" (the longest that fits), and nothing
 * after it. Every part is rendered whole by `render`, so tags are always closed.
 */
export function renderWithin(
  source: string,
  max: number,
  render: (part: MarkdownPart, before: string) => string,
): string {
  let out = ''
  for (const part of markdownParts(source)) {
    const whole = render(part, out)
    if (out.length + whole.length <= max) {
      out += whole
      continue
    }
    let lo = 0
    let hi = part.text.length
    let best = ''
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const tried = render({ ...part, text: `${prefix(part.text, mid)}…` }, out)
      if (out.length + tried.length <= max) {
        best = tried
        lo = mid + 1
      } else hi = mid - 1
    }
    return out + best
  }
  return out
}
