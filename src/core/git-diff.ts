// git_diff on agent messages, handled as Omnara did (OMNARA_API.md §5): base64 is decoded when
// the value is strict padded base64, a value that does not look like a unified diff is ignored,
// an empty one clears the stored diff, and a huge one is truncated.

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const MAX_DIFF = 1_048_576
const TRUNCATED = '\n\n... [TRUNCATED - DIFF TOO LARGE] ...'

const looksLikeDiff = (text: string): boolean => {
  const lines = text.split('\n')
  const some = (test: (l: string) => boolean) => lines.some(test)
  return (
    some((l) => l.startsWith('diff --git')) &&
    some((l) => /^index [a-f0-9]+\.\.[a-f0-9]+/.test(l) || l.startsWith('new file mode')) &&
    some((l) => l.startsWith('--- ')) &&
    some((l) => l.startsWith('+++ ')) &&
    some((l) => /^@@[ \-+,0-9]+@@/.test(l)) &&
    some((l) => l.startsWith(' ') || l.startsWith('+') || l.startsWith('-'))
  )
}

/** Returns the diff to store, or undefined to leave the stored diff unchanged. */
export function normalizeGitDiff(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined
  let text = value
  if (BASE64.test(value)) {
    text = new TextDecoder('utf-8', { fatal: false }).decode(Buffer.from(value, 'base64'))
  }
  text = text.trim()
  if (text === '') return ''
  if (!looksLikeDiff(text)) return undefined
  return text.length > MAX_DIFF ? text.slice(0, MAX_DIFF - 100) + TRUNCATED : text
}
