// One message of a thread, and the loader for older ones. Agent text is Markdown rendered by the
// sanitizing renderer inside an hx-ignore container (htmx never processes anything in it); user
// text is escaped and shown as typed. An open question carries one button per option; a button
// sends the option's index, and what came of it lands in the page's #answer-notice.

import { answerSummary } from '../src/core/answer-wording.ts'
import { isOpenQuestion } from '../src/core/open-questions.ts'
import { parseQuestion } from '../src/core/questions.ts'
import type { Access, ThreadMessage } from '../src/core/thread.ts'
import { omnaraTime } from '../src/core/wire.ts'
import { CsrfField } from './layout.tsx'
import { markdownToPlain, renderMarkdown } from './markdown.ts'

const at = (text: string) => new Date(`${omnaraTime(text)}Z`)

function When({ value }: { value: string | Date }) {
  const d = value instanceof Date ? value : at(value)
  const iso = Number.isNaN(d.getTime()) ? String(value) : d.toISOString()
  return (
    <time datetime={iso} safe>
      {iso.slice(0, 16).replace('T', ' ')}
    </time>
  )
}

/** The element id of a message on its instance page; links from chat copies jump to it. */
export const messageAnchor = (messageId: string) => `msg-${messageId}`

function OptionButtons(props: { m: ThreadMessage; instanceId: string; csrfToken: string }) {
  const options = props.m.options ?? []
  if (options.length === 0) return ''
  return (
    <form
      method="post"
      action={`/instances/${props.instanceId}/reply`}
      class="options"
      hx-post={`/instances/${props.instanceId}/reply`}
      hx-target="#answer-notice"
      hx-swap="outerHTML"
    >
      <CsrfField token={props.csrfToken} />
      <input type="hidden" name="question_id" value={props.m.id} />
      <fieldset>
        <legend>Answer with one of the options</legend>
        {options.map((o, i) => (
          <button type="submit" name="option" value={String(i)} safe>
            {o}
          </button>
        ))}
      </fieldset>
    </form>
  )
}

/** Messages longer than this many characters or lines are folded on the page. */
const FOLD_CHARS = 1500
const FOLD_LINES = 25
const lineTotal = (text: string) => text.split('\n').length
const isLong = (text: string) => text.length > FOLD_CHARS || lineTotal(text) > FOLD_LINES

export function Message(props: { m: ThreadMessage; instanceId: string; access: Access; csrfToken: string }) {
  const { m } = props
  const open = isOpenQuestion(m)
  const classes = [
    'msg',
    m.sender === 'AGENT' ? 'agent' : 'user',
    m.requiresUserInput ? 'question' : '',
    open ? 'open' : '',
  ]
  // A question's option syntax ([YES/NO], [OPTIONS]…) becomes buttons, not text.
  const text = m.requiresUserInput ? parseQuestion(m.content, m.options).text : m.content
  const safeBody = m.sender === 'AGENT' ? renderMarkdown(text) : ''
  return (
    <article
      id={messageAnchor(m.id)}
      class={classes.filter(Boolean).join(' ')}
      aria-label={open ? 'Open question' : undefined}
    >
      <header class="msg-head">
        <strong safe>{m.sender === 'AGENT' ? 'Agent' : (m.authorName ?? 'User')}</strong>
        <When value={m.createdAt} />
        {m.sender === 'USER' && m.channel ? (
          <span class="badge channel" safe>
            {m.channel}
          </span>
        ) : (
          ''
        )}
        {m.requiresUserInput ? (
          <span class="badge question-badge">{open ? 'Waiting for you' : 'Question'}</span>
        ) : (
          ''
        )}
      </header>
      {m.sender === 'AGENT' && !open && isLong(text) ? (
        // A long message (a plan, a log) is folded to its first words; an open question never is.
        <details class="fold">
          <summary>
            <span class="fold-preview" safe>
              {markdownToPlain(text.slice(0, 600)).slice(0, 240)}
            </span>{' '}
            <span class="fold-more" safe>{`Show all ${lineTotal(text)} lines`}</span>
          </summary>
          <div class="md" hx-ignore>
            {safeBody}
          </div>
        </details>
      ) : m.sender === 'AGENT' ? (
        <div class="md" hx-ignore>
          {safeBody}
        </div>
      ) : (
        <p class="plain" safe>
          {m.content}
        </p>
      )}
      {m.requiresUserInput && m.answeredAt ? (
        <p class="answered muted" safe>
          {answerSummary({
            by: m.answeredByName,
            via: m.answeredVia,
            at: m.answeredAt,
            reason: m.closedReason,
            answer: m.answerContent,
            options: m.options,
            pressed: m.answerPressed,
          })}
        </p>
      ) : (
        ''
      )}
      {open && props.access !== 'READ' ? (
        <OptionButtons m={m} instanceId={props.instanceId} csrfToken={props.csrfToken} />
      ) : (
        ''
      )}
    </article>
  )
}

/** Loads the previous page when scrolled into view (or clicked; a plain link without JavaScript). */
export function OlderLoader(props: { instanceId: string; before: string | null }) {
  if (!props.before) return <p class="muted thread-start">Start of the conversation</p>
  const url = `/instances/${props.instanceId}/messages?before=${props.before}`
  return (
    <div id="older" class="older">
      <a
        href={`/instances/${props.instanceId}?before=${props.before}`}
        hx-get={url}
        hx-trigger="click, intersect once"
        hx-target="#older"
        hx-swap="outerHTML"
      >
        Load older messages
      </a>
    </div>
  )
}

export function OlderPage(props: {
  messages: ThreadMessage[]
  olderCursor: string | null
  instanceId: string
  access: Access
  csrfToken: string
}) {
  return (
    <>
      <OlderLoader instanceId={props.instanceId} before={props.olderCursor} />
      {props.messages.map((m) => (
        <Message m={m} instanceId={props.instanceId} access={props.access} csrfToken={props.csrfToken} />
      ))}
    </>
  )
}
