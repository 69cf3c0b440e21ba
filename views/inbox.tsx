// The inbox page: search and filters (a plain GET form), the rows, and cursor pages. The first
// page stays live: an SSE stream re-renders its rows whenever one of the instances changes.
import type { InboxRow } from '../src/core/inbox.ts'
import { isLive } from '../src/core/statuses.ts'
import { INSTANCE_STATUSES } from '../src/db/schema.ts'
import { Presence, StatusBadge, statusLabel, TimeAgo } from './badges.tsx'
import { ErrorBox } from './forms.tsx'
import { Layout, type LayoutUser } from './layout.tsx'
import { markdownToPlain } from './markdown.ts'
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

/** One line of plain text: Markdown marks are gone, so `**2 to destroy**` reads "2 to destroy". */
function previewText(row: InboxRow): string {
  if (!row.preview) return 'No messages yet'
  const text = markdownToPlain(row.preview.slice(0, 400)).slice(0, 160)
  return `${row.previewSender === 'USER' ? 'You: ' : ''}${text}`
}

function Row({ row }: { row: InboxRow }) {
  return (
    <li id={`row-${row.id}`} class={row.needsInput ? 'inbox-row needs-input' : 'inbox-row'}>
      <a class="row-link" href={`/instances/${row.id}#latest`}>
        <span class="row-top">
          {isLive(row.status) ? <Presence present={row.present} compact /> : ''}
          <span class="row-title">
            {/* Unnamed: the agent is the name, and a short id tells its sessions apart. */}
            <strong class="row-name" safe>
              {row.name || row.agentType}
            </strong>{' '}
            <span class="agent-type" safe>
              {row.name ? row.agentType : `#${row.id.slice(0, 8)}`}
            </span>
          </span>
          {row.sharedAccess ? (
            <span class="badge" safe>
              {`shared · ${row.sharedAccess === 'READ' ? 'read only' : 'can reply'}`}
            </span>
          ) : (
            ''
          )}
          <StatusBadge status={row.status} />
          {row.unread > 0 ? (
            <span class="badge unread" title="Unread messages">
              <span safe>{row.unread >= 100 ? '99+' : String(row.unread)}</span>
              <span class="sr-only"> unread</span>
            </span>
          ) : (
            ''
          )}
        </span>
        <span class="row-bottom">
          <span class="preview" safe>
            {previewText(row)}
          </span>
          <TimeAgo ms={row.lastActivityMs} />
        </span>
      </a>
    </li>
  )
}

/** What an account with no agents sees instead of filters: the three ways to connect one. */
function Onboarding() {
  return (
    <section class="card onboarding" aria-labelledby="onboarding-title">
      <h2 id="onboarding-title">Connect your first agent</h2>
      <ol>
        <li>
          <strong>Claude Code or Codex:</strong> <code>parley hook install --write</code> in your project (add{' '}
          <code>--agent codex</code> for Codex). Its questions and tool approvals then wait for you here.
        </li>
        <li>
          <strong>Any script or n8n:</strong> post a question to <code>/api/v1/messages/agent</code> with an
          API key and wait for the answer.
        </li>
        <li>
          <strong>Watch a terminal:</strong> <code>parley run -- your-command</code> streams it to this page.
        </li>
      </ol>
      <p>
        <a class="button" href="/start">
          Create a key and copy the commands
        </a>
      </p>
    </section>
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
            No agents yet: they appear here as soon as they connect. <a href="/start">Getting started</a>
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
  const narrowed = [query.status, query.type].filter(Boolean).length
  // No agent at all yet: a short way to connect one instead of a filter bar over nothing.
  const empty = !filtered && !props.paged && !props.error && props.rows.length === 0
  return (
    <Layout title="" user={props.user} csrfToken={props.csrfToken}>
      <h1>Inbox</h1>
      {empty ? (
        <Onboarding />
      ) : (
        <search>
          <form method="get" action="/" class="filters" aria-label="Search and filter">
            <label class="sr-only" for="f-q">
              Search names and messages
            </label>
            <input
              id="f-q"
              name="q"
              type="search"
              value={query.q}
              maxlength={200}
              placeholder="Search names and messages"
            />
            <button type="submit">Search</button>
            {/* Closed unless in use, so on a phone the agents come first. */}
            <details class="filter-more" open={Boolean(query.status || query.type)}>
              <summary>{narrowed ? `Filters (${narrowed})` : 'Filters'}</summary>
              <div class="filter-fields">
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
              </div>
            </details>
            {filtered ? <a href="/">Clear</a> : ''}
          </form>
        </search>
      )}
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
