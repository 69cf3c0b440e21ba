// The agent's git diff. The instance page shows a summary (files, +/- counts) with each file
// folded; hunks are rendered inline only up to a line budget, so a 1 MB diff cannot make a
// multi-megabyte page. The whole diff is on its own page, a few files at a time, each file cut
// at a bound with the count of what is not shown. Diff text is agent data: every line is escaped.
import type { DiffFile } from '../src/core/diff-parse.ts'
import { Layout, type LayoutUser } from './layout.tsx'

const CHANGE: Record<DiffFile['change'], string> = {
  added: 'added',
  deleted: 'deleted',
  renamed: 'renamed',
  modified: 'modified',
  binary: 'binary',
}

const MARK = { add: '+', del: '-', ctx: ' ', note: '' }

/** Hunk lines the instance page renders in all; files past the budget link to the diff page. */
export const DIFF_INLINE_LINES = 400
/** Files the instance page lists; the rest are counted and linked. */
export const DIFF_LIST_FILES = 30
/** Files per page of the diff page. */
export const DIFF_PAGE_FILES = 25
/** Lines of one file the diff page renders. */
export const DIFF_FILE_LINES = 2000

const lineCount = (f: DiffFile) => f.hunks.reduce((n, h) => n + h.lines.length, 0)
const fileName = (f: DiffFile) => (f.oldPath ? `${f.oldPath} → ${f.path}` : f.path)
const diffPage = (instanceId: string, page: number) =>
  `/instances/${instanceId}/diff${page > 0 ? `?page=${page}` : ''}`

/** One file's hunks, at most `maxLines` lines; says how many more there are. */
function Hunks({ file, maxLines }: { file: DiffFile; maxLines: number }) {
  let left = maxLines
  const shown = file.hunks.map((h) => {
    const lines = h.lines.slice(0, Math.max(0, left))
    left -= lines.length
    return { header: h.header, lines }
  })
  const hidden = lineCount(file) - (maxLines - Math.max(0, left))
  return (
    <>
      {shown
        .filter((h) => h.lines.length > 0)
        .map((h) => (
          <div class="table-wrap">
            <table class="hunk">
              <caption safe>{h.header}</caption>
              <tbody>
                {h.lines.map((l) => (
                  <tr class={`line ${l.kind}`}>
                    <td class="ln" safe>
                      {l.oldNo === null ? '' : String(l.oldNo)}
                    </td>
                    <td class="ln" safe>
                      {l.newNo === null ? '' : String(l.newNo)}
                    </td>
                    <td class="code" safe>
                      {`${MARK[l.kind]}${l.text}`}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      {hidden > 0 ? <p class="muted" safe>{`${hidden} more lines not shown.`}</p> : ''}
    </>
  )
}

function FileSummary({ file }: { file: DiffFile }) {
  return (
    <summary>
      <span class="diff-path" safe>
        {fileName(file)}
      </span>{' '}
      <span class="diff-counts" safe>
        {`${CHANGE[file.change]} · +${file.additions} −${file.deletions}`}
      </span>
    </summary>
  )
}

/**
 * The instance page's diff section; an empty placeholder keeps its id so a live update can fill
 * it in later.
 */
export function DiffView({ files, instanceId }: { files: DiffFile[]; instanceId: string }) {
  if (files.length === 0) return <div id="diff" hidden></div>
  const additions = files.reduce((n, f) => n + f.additions, 0)
  const deletions = files.reduce((n, f) => n + f.deletions, 0)
  let budget = DIFF_INLINE_LINES
  const listed = files.slice(0, DIFF_LIST_FILES).map((file, i) => {
    const lines = lineCount(file)
    const inline = lines <= budget
    if (inline) budget -= lines
    return { file, inline, index: i }
  })
  const single = files.length === 1 && listed[0]!.inline
  return (
    <section id="diff" class="diff" aria-labelledby="diff-title" hx-ignore>
      <details class="diff-summary" open={files.length <= 10}>
        <summary>
          <h2 id="diff-title">Changes</h2>{' '}
          <span class="diff-counts" safe>
            {`${files.length} ${files.length === 1 ? 'file' : 'files'} · +${additions} −${deletions}`}
          </span>
        </summary>
        <ul class="diff-files">
          {listed.map(({ file, inline, index }) => (
            <li>
              <details class="diff-file" open={single}>
                <FileSummary file={file} />
                {inline ? (
                  <Hunks file={file} maxLines={DIFF_INLINE_LINES} />
                ) : (
                  <p>
                    <a href={`${diffPage(instanceId, Math.floor(index / DIFF_PAGE_FILES))}#file-${index}`}>
                      Open this file on the diff page
                    </a>
                  </p>
                )}
              </details>
            </li>
          ))}
        </ul>
        {files.length > DIFF_LIST_FILES || listed.some((l) => !l.inline) ? (
          <p>
            <a href={diffPage(instanceId, 0)} safe>
              {`The whole diff (${files.length} files)`}
            </a>
          </p>
        ) : (
          ''
        )}
      </details>
    </section>
  )
}

/** /instances/:id/diff — the whole diff, DIFF_PAGE_FILES files a page. */
export function DiffPage(props: {
  user: LayoutUser
  csrfToken: string
  instanceId: string
  title: string
  files: DiffFile[]
  page: number
}) {
  const { files, page, instanceId } = props
  const pages = Math.max(1, Math.ceil(files.length / DIFF_PAGE_FILES))
  const first = page * DIFF_PAGE_FILES
  const shown = files.slice(first, first + DIFF_PAGE_FILES)
  return (
    <Layout title={`Changes · ${props.title}`} user={props.user} csrfToken={props.csrfToken}>
      <p>
        <a href={`/instances/${instanceId}`} safe>{`← ${props.title}`}</a>
      </p>
      <h1>Changes</h1>
      <p class="muted" safe>
        {files.length === 0
          ? 'The agent has sent no diff.'
          : `Files ${first + 1}–${first + shown.length} of ${files.length} · page ${page + 1} of ${pages}`}
      </p>
      <section class="diff" hx-ignore>
        {shown.map((file, i) => (
          <details id={`file-${first + i}`} class="diff-file" open={shown.length <= 5}>
            <FileSummary file={file} />
            <Hunks file={file} maxLines={DIFF_FILE_LINES} />
          </details>
        ))}
      </section>
      <nav class="pager" aria-label="Pages">
        {page > 0 ? <a href={diffPage(instanceId, page - 1)}>Previous files</a> : ''}
        {page + 1 < pages ? <a href={diffPage(instanceId, page + 1)}>Next files</a> : ''}
      </nav>
    </Layout>
  )
}
