// The inbox page: search and filters (a plain GET form), the rows, and cursor pages. The first
// page stays live: an SSE stream re-renders its rows whenever one of the instances changes.
import type { InboxRow } from '../src/core/inbox.ts'
import { INSTANCE_STATUSES } from '../src/db/schema.ts'
import { Presence, StatusBadge, statusLabel, TimeAgo } from './badges.tsx'
import { ErrorBox } from './forms.tsx'
import { Layout, type LayoutUser } from './layout.tsx'
import { hxPartial } from './partial.ts'

export type InboxQuery = { q: string; status: string; type: string }

export const inboxSearch = (query: InboxQuery, extra: Record<string, string> = {}) => {
  const params = new URLSearchParams()
  if (query.q) params.set('q', query.q)
  if (query.status) params.set('status', query.status)
  if (query.type) params.set('type', query.type)
  for (const [k, v] of Object.entries(extra)) params.set(k, v)
  const text = params.toString()
  return text ? `?${text}` : ''
}

function Row({ row }: { row: InboxRow }) {
  const name = row.name || `${row.agentType} ${row.id.slice(0, 8)}`
  const preview = row.preview
    ? `${row.previewSender === 'USER' ? 'You: ' : ''}${row.preview.slice(0, 160)}`
    : 'No messages yet'
  return (
    <li id={`row-${row.id}`} class={row.needsInput ? 'inbox-row needs-input' : 'inbox-row'}>
      <a class="row-link" href={`/instances/${row.id}#latest`}>
        <span class="row-top">
          <span class="agent-type" safe>
            {row.agentType}
          </span>
          <strong class="row-name" safe>
            {name}
          </strong>
          <StatusBadge status={row.status} />
          <Presence present={row.present} />
          {row.sharedAccess ? (
            <span class="badge" safe>
              {`shared · ${row.sharedAccess === 'READ' ? 'read only' : 'can reply'}`}
            </span>
          ) : (
            ''
          )}
          {row.unread > 0 ? (
            <span class="badge unread" safe>
              {`${row.unread >= 100 ? '99+' : row.unread} unread`}
            </span>
          ) : (
            ''
          )}
        </span>
        <span class="row-bottom">
          <span class="preview" safe>
            {preview}
          </span>
          <TimeAgo ms={row.lastActivityMs} />
        </span>
      </a>
    </li>
  )
}

export function InboxRows({ rows, filtered }: { rows: InboxRow[]; filtered: boolean }) {
  if (rows.length === 0) {
    return (
      <li class="empty">
        {filtered ? (
          'Nothing matches these filters.'
        ) : (
          <span>
            No agents yet. <a href="/start">Connect your first agent</a>.
          </span>
        )}
      </li>
    )
  }
  return (
    <>
      {rows.map((row) => (
        <Row row={row} />
      ))}
    </>
  )
}

/** The SSE payload that refreshes the live first page in place (morphing keeps focus). */
export async function inboxLiveUpdate(rows: InboxRow[], filtered: boolean): Promise<string> {
  return hxPartial('#inbox-rows', 'innerMorph', await (<InboxRows rows={rows} filtered={filtered} />))
}

export function InboxPage(props: {
  user: LayoutUser
  csrfToken: string
  query: InboxQuery
  rows: InboxRow[]
  nextCursor: string | null
  paged: boolean
  agentTypes: string[]
  error?: string | null
}) {
  const { query } = props
  const filtered = Boolean(query.q || query.status || query.type)
  const live = !props.paged && !props.error
  return (
    <Layout title="" user={props.user} csrfToken={props.csrfToken}>
      <h1>Inbox</h1>
      <form method="get" action="/" class="row filters" aria-label="Search and filter">
        <div class="field grow">
          <label for="f-q">Search names and messages</label>
          <input id="f-q" name="q" type="search" value={query.q} maxlength={200} />
        </div>
        <div class="field">
          <label for="f-status">Status</label>
          <select id="f-status" name="status">
            <option value="">Any</option>
            {INSTANCE_STATUSES.filter((s) => s !== 'DELETED').map((s) => (
              <option value={s} selected={query.status === s} safe>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="f-type">Agent type</label>
          <select id="f-type" name="type">
            <option value="">Any</option>
            {props.agentTypes.map((t) => (
              <option value={t} selected={query.type === t} safe>
                {t}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Apply</button>
        {filtered ? <a href="/">Clear</a> : ''}
      </form>
      <ErrorBox message={props.error} />
      <section
        aria-label="Agent instances"
        hx-sse:connect={live ? `/events/inbox${inboxSearch(query)}` : undefined}
        hx-swap="none"
      >
        <ul id="inbox-rows" class="inbox" aria-live="polite">
          <InboxRows rows={props.rows} filtered={filtered} />
        </ul>
      </section>
      <nav class="pager" aria-label="Pages">
        {props.paged ? <a href={`/${inboxSearch(query)}`}>Newest</a> : ''}
        {props.nextCursor ? <a href={`/${inboxSearch(query, { cursor: props.nextCursor })}`}>Older</a> : ''}
      </nav>
    </Layout>
  )
}
