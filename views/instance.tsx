// The instance page: header (type, name, status, presence), the owner's actions (rename, mark
// complete, delete, share), the thread with live updates, the diff, and the reply box. Every
// form posts and redirects without JavaScript; with htmx the reply box swaps itself for a fresh
// one and the new message arrives over the page's SSE stream.
import type { FailedDelivery } from '../src/core/deliveries.ts'
import type { DiffFile } from '../src/core/diff-parse.ts'
import { isLive } from '../src/core/statuses.ts'
import type { InstanceView, ThreadMessage } from '../src/core/thread.ts'
import { Presence, StatusBadge } from './badges.tsx'
import { DiffView } from './diff.tsx'
import { ErrorBox, Notice } from './forms.tsx'
import { CsrfField, Layout, type LayoutUser } from './layout.tsx'
import { Message, OlderLoader } from './thread.tsx'

/** The name, or for an unnamed instance its agent and a short id (as the inbox shows it). */
export const instanceTitle = (i: { name: string | null; agentType: string; id: string }) =>
  i.name || `${i.agentType} #${i.id.slice(0, 8)}`

export function InstanceHead({ inst }: { inst: InstanceView }) {
  return (
    <div id="instance-head" class="instance-head">
      <h1 safe>{instanceTitle(inst)}</h1>
      {inst.name ? (
        <span class="agent-type" safe>
          {inst.agentType}
        </span>
      ) : (
        ''
      )}
      <StatusBadge status={inst.status} />
      {isLive(inst.status) ? <Presence present={inst.present} /> : ''}
    </div>
  )
}

/**
 * Where the outcome of an answer that did not count shows (amber: nothing went wrong, but the
 * question had been answered or closed). Option buttons swap it.
 */
export function AnswerNotice({ message }: { message?: string | null }) {
  return (
    <div id="answer-notice" aria-live="polite">
      {message ? (
        <p class="warning" role="status" safe>
          {message}
        </p>
      ) : (
        ''
      )}
    </div>
  )
}

export function ReplyForm(props: {
  inst: InstanceView
  csrfToken: string
  error?: string | null
  warning?: string | null
  draft?: string
}) {
  const action = `/instances/${props.inst.id}/reply`
  if (props.inst.access === 'READ') {
    return (
      <p id="reply" class="muted">
        This instance is shared with you read-only: you can follow it but not reply.
      </p>
    )
  }
  return (
    <form
      id="reply"
      method="post"
      action={action}
      class="reply stack"
      hx-post={action}
      hx-target="this"
      hx-swap="outerHTML"
    >
      <CsrfField token={props.csrfToken} />
      <ErrorBox message={props.error} />
      {props.warning ? (
        <p class="warning" role="status" safe>
          {props.warning}
        </p>
      ) : (
        ''
      )}
      <label for="reply-content">Reply to the agent</label>
      <textarea id="reply-content" name="content" rows="3" required maxlength={100000} safe>
        {props.draft ?? ''}
      </textarea>
      <div>
        <button type="submit">Send reply</button>
      </div>
    </form>
  )
}

/**
 * The relayed terminal (xterm.js, driven by /assets/terminal.js over /relay/view/ID), for
 * instances that have or had one. Typing is offered to the owner and WRITE shares only.
 */
export function TerminalPanel({ inst }: { inst: InstanceView }) {
  if (!inst.terminal) return ''
  const canWrite = inst.access !== 'READ'
  return (
    <section id="terminal" class="terminal card" aria-label="Terminal" data-instance={inst.id}>
      <link rel="stylesheet" href="/assets/xterm.css" />
      <div class="terminal-bar">
        <h2>Terminal</h2>
        <span class="terminal-state" role="status" aria-live="polite" data-state="closed">
          not connected
        </span>
        {canWrite ? (
          <label class="terminal-typing">
            <input type="checkbox" name="terminal-typing" /> Type into it
          </label>
        ) : (
          <span class="muted">read only</span>
        )}
        <button
          type="button"
          class="secondary terminal-toggle"
          aria-expanded="true"
          aria-controls="terminal-screen"
        >
          Hide terminal
        </button>
      </div>
      <div id="terminal-screen" class="terminal-screen"></div>
      <noscript>
        <p class="muted">The terminal needs JavaScript.</p>
      </noscript>
      <script src="/assets/xterm.js" defer></script>
      <script src="/assets/addon-fit.js" defer></script>
      <script src="/assets/terminal.js" defer></script>
    </section>
  )
}

function OwnerActions(props: {
  inst: InstanceView
  csrfToken: string
  shared: { email: string | null; access: string }[]
}) {
  const base = `/instances/${props.inst.id}`
  return (
    <details class="card actions">
      <summary>Manage this instance</summary>
      <form method="post" action={`${base}/rename`} class="row">
        <CsrfField token={props.csrfToken} />
        <div class="field grow">
          <label for="rename-name">Name</label>
          <input id="rename-name" name="name" value={props.inst.name ?? ''} maxlength={200} required />
        </div>
        <button type="submit">Rename</button>
      </form>
      <div class="row">
        {props.inst.status !== 'COMPLETED' ? (
          <form method="post" action={`${base}/complete`} class="inline">
            <CsrfField token={props.csrfToken} />
            <button type="submit" class="secondary">
              Mark complete
            </button>
          </form>
        ) : (
          ''
        )}
        <form method="post" action={`${base}/delete`} class="inline">
          <CsrfField token={props.csrfToken} />
          <button type="submit" class="danger">
            Delete
          </button>
        </form>
      </div>
      <form method="post" action={`${base}/share`} class="row">
        <CsrfField token={props.csrfToken} />
        <div class="field grow">
          <label for="share-email">Share with (email of a Parley user)</label>
          <input id="share-email" name="email" type="email" required />
        </div>
        <div class="field">
          <label for="share-access">Access</label>
          <select id="share-access" name="access">
            <option value="READ">Read only</option>
            <option value="WRITE">Read and reply</option>
          </select>
        </div>
        <button type="submit">Share</button>
      </form>
      {props.shared.length > 0 ? (
        <ul class="shared-list">
          {props.shared.map((s) => (
            <li safe>{`${s.email ?? ''} · ${s.access === 'READ' ? 'read only' : 'read and reply'}`}</li>
          ))}
        </ul>
      ) : (
        ''
      )}
    </details>
  )
}

export function InstancePage(props: {
  user: LayoutUser
  csrfToken: string
  inst: InstanceView
  messages: ThreadMessage[]
  olderCursor: string | null
  paged: boolean
  diff: DiffFile[]
  shared: { email: string | null; access: string }[]
  /** Deliveries that gave up (owner only): webhooks that stayed down, chats that refused. */
  failed?: FailedDelivery[]
  notice?: string | null
  warning?: string | null
  error?: string | null
  draft?: string
}) {
  const { inst } = props
  const last = props.messages.at(-1)?.id ?? ''
  const live = props.paged ? undefined : `/events/instances/${inst.id}?after=${last}`
  return (
    <Layout title={instanceTitle(inst)} user={props.user} csrfToken={props.csrfToken}>
      <p>
        <a href="/">← Inbox</a>
      </p>
      <InstanceHead inst={inst} />
      <Notice message={props.notice} />
      {inst.access === 'OWNER' ? (
        <OwnerActions inst={inst} csrfToken={props.csrfToken} shared={props.shared} />
      ) : (
        ''
      )}
      <TerminalPanel inst={inst} />
      <FailedDeliveries failed={props.failed ?? []} />
      {/* The changes come before the thread: a summary line, each file folded. */}
      <DiffView files={props.diff} instanceId={inst.id} />
      <section class="thread-wrap" aria-label="Conversation" hx-sse:connect={live} hx-swap="none">
        <div id="thread" class="thread">
          <OlderLoader instanceId={inst.id} before={props.olderCursor} />
          {props.messages.map((m) => (
            <Message m={m} instanceId={inst.id} access={inst.access} csrfToken={props.csrfToken} />
          ))}
        </div>
        <span id="latest"></span>
      </section>
      <AnswerNotice message={props.warning} />
      <ReplyForm inst={inst} csrfToken={props.csrfToken} error={props.error} draft={props.draft} />
    </Layout>
  )
}

function FailedDeliveries(props: { failed: FailedDelivery[] }) {
  if (props.failed.length === 0) return ''
  return (
    <section aria-labelledby="failed-h" class="card">
      <h2 id="failed-h">Deliveries that failed</h2>
      <ul>
        {props.failed.map((d) => (
          <li>
            <strong safe>{d.kind === 'webhook' ? `Webhook ${d.target}` : `${d.channel} ${d.kind}`}</strong>
            <span safe>{` gave up after ${d.attempts} attempts: `}</span>
            <span safe>{d.lastError ?? 'unknown error'}</span>
          </li>
        ))}
      </ul>
    </section>
  )
}

/** A request refused before any instance could be shown (e.g. a malformed id); nothing changed. */
export function RefusedPage(props: { user: LayoutUser; csrfToken: string; message: string }) {
  return (
    <Layout title="Request refused" user={props.user} csrfToken={props.csrfToken}>
      <h1>Request refused</h1>
      <ErrorBox message={props.message} />
      <p>
        Nothing was changed. <a href="/">Back to the inbox</a>.
      </p>
    </Layout>
  )
}
