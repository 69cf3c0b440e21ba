// The agent's git diff: a file list with +/- counts linking to each file's hunks, the lines
// numbered and marked as added or removed in text as well as colour. Diff text is agent data:
// every line is escaped.
import type { DiffFile } from '../src/core/diff-parse.ts'

const CHANGE: Record<DiffFile['change'], string> = {
  added: 'added',
  deleted: 'deleted',
  renamed: 'renamed',
  modified: 'modified',
  binary: 'binary',
}

const MARK = { add: '+', del: '-', ctx: ' ', note: '' }

/** The diff section; an empty placeholder keeps its id so a live update can fill it in later. */
export function DiffView({ files }: { files: DiffFile[] }) {
  if (files.length === 0) return <div id="diff" hidden></div>
  return (
    <section id="diff" class="diff" aria-labelledby="diff-title" hx-ignore>
      <h2 id="diff-title">Changes</h2>
      <ul class="diff-files">
        {files.map((f, i) => (
          <li>
            <a href={`#diff-${i}`} safe>
              {f.oldPath ? `${f.oldPath} → ${f.path}` : f.path}
            </a>{' '}
            <span class="muted" safe>
              {`${CHANGE[f.change]} · +${f.additions} −${f.deletions}`}
            </span>
          </li>
        ))}
      </ul>
      {files.map((f, i) => (
        <details id={`diff-${i}`} class="diff-file" open={files.length <= 5}>
          <summary safe>{f.path}</summary>
          {f.hunks.map((h) => (
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
        </details>
      ))}
    </section>
  )
}
