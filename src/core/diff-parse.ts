// Parses the unified git diff an agent sends with its messages into files and hunks, so the
// instance page can show a file list with counts and the changed lines numbered. Tolerant:
// whatever does not parse is skipped rather than failing the page.

export type DiffLine = {
  kind: 'add' | 'del' | 'ctx' | 'note'
  oldNo: number | null
  newNo: number | null
  text: string
}
export type DiffHunk = { header: string; lines: DiffLine[] }
export type DiffFile = {
  path: string
  oldPath: string | null
  change: 'added' | 'deleted' | 'renamed' | 'modified' | 'binary'
  additions: number
  deletions: number
  hunks: DiffHunk[]
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/
const GIT_HEADER = /^diff --git a\/(.+?) b\/(.+)$/

const stripPrefix = (p: string) => (p === '/dev/null' ? null : p.replace(/^[ab]\//, ''))

export function parseDiff(text: string | null | undefined): DiffFile[] {
  if (!text) return []
  const files: DiffFile[] = []
  let file: DiffFile | null = null
  let hunk: DiffHunk | null = null
  let oldNo = 0
  let newNo = 0
  for (const line of text.split('\n')) {
    const header = GIT_HEADER.exec(line)
    if (header) {
      file = { path: header[2]!, oldPath: null, change: 'modified', additions: 0, deletions: 0, hunks: [] }
      files.push(file)
      hunk = null
      continue
    }
    if (!file) continue
    const h = HUNK.exec(line)
    if (h) {
      oldNo = Number(h[1])
      newNo = Number(h[2])
      hunk = { header: line, lines: [] }
      file.hunks.push(hunk)
      continue
    }
    if (!hunk) {
      if (line.startsWith('new file mode')) file.change = 'added'
      else if (line.startsWith('deleted file mode')) file.change = 'deleted'
      else if (line.startsWith('rename from ')) {
        file.change = 'renamed'
        file.oldPath = line.slice('rename from '.length)
      } else if (line.startsWith('Binary files')) file.change = 'binary'
      else if (line.startsWith('--- ')) {
        const old = stripPrefix(line.slice(4).trim())
        if (old && old !== file.path && file.change !== 'renamed') file.oldPath = old
      }
      continue
    }
    if (line.startsWith('+')) {
      hunk.lines.push({ kind: 'add', oldNo: null, newNo: newNo++, text: line.slice(1) })
      file.additions++
    } else if (line.startsWith('-')) {
      hunk.lines.push({ kind: 'del', oldNo: oldNo++, newNo: null, text: line.slice(1) })
      file.deletions++
    } else if (line.startsWith(' ') || line === '') {
      if (line === '') continue
      hunk.lines.push({ kind: 'ctx', oldNo: oldNo++, newNo: newNo++, text: line.slice(1) })
    } else if (line.startsWith('\\')) {
      hunk.lines.push({ kind: 'note', oldNo: null, newNo: null, text: line })
    }
  }
  return files
}
