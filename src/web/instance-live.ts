// GET /events/instances/:id — the instance page's SSE stream. New messages are appended to the
// thread, an answered question is re-rendered in place (its buttons go, who answered appears),
// and status changes refresh the header. It starts with whatever the page missed since the
// message it ended on (`after`, or Last-Event-ID when the browser reconnects). The viewer is
// looking at the thread, so their read position follows it.
import { Elysia } from 'elysia'
import { DiffView } from '../../views/diff.tsx'
import { InstanceHead } from '../../views/instance.tsx'
import { hxPartial } from '../../views/partial.ts'
import { Message } from '../../views/thread.tsx'
import type { SessionUser } from '../auth/web-sessions.ts'
import {
  diffFiles,
  type InstanceView,
  markSeen,
  type ThreadMessage,
  threadAfter,
  threadMessage,
  viewInstance,
} from '../core/thread.ts'
import { canonicalUuid } from '../core/wire.ts'
import type { BusEvent } from '../events/bus.ts'
import type { WebDeps } from './deps.ts'
import { instanceId } from './instance.ts'
import type { LiveHub, LiveItem } from './live-hub.ts'
import { webSession } from './session.ts'

export function webInstanceLive(deps: WebDeps, hub: LiveHub) {
  const { db } = deps.core

  const appendItem = async (m: ThreadMessage, inst: InstanceView, csrfToken: string): Promise<LiveItem> => ({
    html: hxPartial(
      '#thread',
      'beforeend',
      await Message({ m, instanceId: inst.id, access: inst.access, csrfToken }),
    ),
    messageId: m.id,
  })

  const render = async (
    user: SessionUser,
    id: string,
    csrfToken: string,
    events: BusEvent[],
    shown: { diff: string | null },
  ) => {
    const inst = await viewInstance(db, user.id, id).catch(() => null)
    if (!inst) return []
    const items: LiveItem[] = []
    // Agents send the whole diff with their messages: re-render it only when it changed.
    if (inst.diffKey !== shown.diff) {
      shown.diff = inst.diffKey
      items.push({
        html: hxPartial(
          '#diff',
          'outerHTML',
          await DiffView({ files: await diffFiles(db, inst), instanceId: inst.id }),
        ),
      })
    }
    let lastSeen: string | null = null
    for (const e of events) {
      if (e.type === 'message.created') {
        const m = await threadMessage(db, id, e.messageId)
        if (m) items.push(await appendItem(m, inst, csrfToken))
        lastSeen = e.messageId
      } else if (e.type === 'question.answered') {
        const q = await threadMessage(db, id, e.questionId)
        if (q) {
          const html = await Message({ m: q, instanceId: id, access: inst.access, csrfToken })
          items.push({ html: hxPartial(`#msg-${q.id}`, 'outerHTML', html) })
        }
      }
    }
    items.push({ html: hxPartial('#instance-head', 'outerHTML', await InstanceHead({ inst })) })
    if (lastSeen) await markSeen(db, user.id, id, lastSeen)
    return items
  }

  return new Elysia({ name: 'parley.web.instance-live' }).use(webSession(deps)).get(
    '/events/instances/:id',
    async ({ user, csrfToken, params, query, request, server }) => {
      const id = instanceId(params.id)
      const inst = await viewInstance(db, user.id, id)
      const after = canonicalUuid(request.headers.get('last-event-id') ?? String(query.after ?? ''))
      const shown = { diff: inst.diffKey }
      return hub.open(
        {
          // The CSRF token is per session and goes into rendered forms: part of the group's key.
          key: `instance:${id}:${user.id}:${csrfToken}`,
          viewerId: user.id,
          wants: (e) => 'instanceId' in e && e.instanceId === id,
          render: (events) => render(user, id, csrfToken, events, shown),
        },
        {
          request,
          server,
          lastMessageId: after,
          initial: async () => {
            const missed = await threadAfter(db, id, after)
            return Promise.all(missed.map((m) => appendItem(m, inst, csrfToken)))
          },
        },
      )
    },
    { auth: true },
  )
}
