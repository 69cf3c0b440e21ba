// GET / — the inbox: all the person's instances (own and shared), searched and filtered on the
// server, cursor pages, and the first page kept live by /events/inbox.
import { Elysia } from 'elysia'
import { InboxPage, type InboxQuery, inboxLiveUpdate } from '../../views/inbox.tsx'
import type { SessionUser } from '../auth/web-sessions.ts'
import { agentTypeNames, inboxPage, normalizeFilters } from '../core/inbox.ts'
import { AppError } from '../errors.ts'
import { statusOf } from '../http/errors.ts'
import type { WebDeps } from './deps.ts'
import { htmlResponse } from './http.ts'
import type { LiveHub } from './live-hub.ts'
import { webSession } from './session.ts'

const text = (v: unknown) => (typeof v === 'string' ? v : '')

export const inboxQuery = (query: Record<string, unknown>): InboxQuery => ({
  q: text(query.q).trim(),
  status: text(query.status).trim(),
  type: text(query.type).trim(),
})

export function webInbox(deps: WebDeps, hub: LiveHub) {
  const { core } = deps
  const render = async (user: SessionUser, csrfToken: string, query: InboxQuery, cursor: string) => {
    const types = agentTypeNames(core, user.id)
    try {
      const filters = normalizeFilters({ q: query.q, status: query.status, agentType: query.type, cursor })
      const [page, agentTypes] = await Promise.all([inboxPage(core, user.id, filters), types])
      return htmlResponse(InboxPage({ user, csrfToken, query, ...page, paged: Boolean(cursor), agentTypes }))
    } catch (err) {
      if (!(err instanceof AppError) || statusOf(err) >= 500) throw err
      const props = {
        user,
        csrfToken,
        query,
        rows: [],
        nextCursor: null,
        paged: false,
        agentTypes: await types,
      }
      return htmlResponse(InboxPage({ ...props, error: err.message }), statusOf(err))
    }
  }

  return new Elysia({ name: 'parley.web.inbox' })
    .use(webSession(deps))
    .get(
      '/',
      ({ user, csrfToken, query }) => render(user, csrfToken, inboxQuery(query), text(query.cursor)),
      {
        auth: true,
      },
    )
    .get(
      '/events/inbox',
      ({ user, query, request, server }) => {
        const q = inboxQuery(query)
        const filters = normalizeFilters({ q: q.q, status: q.status, agentType: q.type })
        const filtered = Boolean(q.q || q.status || q.type)
        return hub.open(
          {
            key: `inbox:${user.id}:${JSON.stringify([filters.q, filters.status, filters.agentType])}`,
            viewerId: user.id,
            wants: (e) =>
              e.type === 'message.created' || e.type === 'instance.updated' || e.type === 'question.answered',
            render: async () => {
              const page = await inboxPage(core, user.id, filters)
              return [{ html: await inboxLiveUpdate(page.rows, filtered) }]
            },
          },
          { request, server },
        )
      },
      { auth: true },
    )
}
