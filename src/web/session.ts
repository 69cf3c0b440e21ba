// The dashboard's session check, as one named plugin with an `auth` macro:
//   .get('/x', ({ user, session, csrfToken }) => …, { auth: true })
// A valid session cookie resolves the user; otherwise browsers are sent to /login?next=… (htmx
// requests get 401 with HX-Redirect, because fetch would follow a 303 and swap the login page
// into the target). Every non-GET request must carry the session's CSRF token (form field
// `_csrf` or header X-CSRF-Token) or it is refused with 403 before the handler runs.
import { Elysia } from 'elysia'
import { FormExpiredPage } from '../../views/errors.tsx'
import { CSRF_FIELD, CSRF_HEADER, csrfTokenFor, csrfValid } from '../auth/csrf.ts'
import { findWebSession, readCookie, SESSION_COOKIE } from '../auth/web-sessions.ts'
import type { Core } from '../core/context.ts'
import { isHtmx } from './http.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Where a request without a valid session is sent: the log-in page, then back here. */
export function loginLocation(request: Request): string {
  const url = new URL(request.url)
  const next = request.method === 'GET' ? url.pathname + url.search : '/'
  return next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`
}

/** The request's live session, if any, for pages that anyone may see (log-in, docs). */
export async function sessionOf(db: Core['db'], request: Request) {
  const token = readCookie(request.headers.get('cookie'), SESSION_COOKIE)
  const found = token ? await findWebSession(db, token) : null
  return found ? { ...found, csrfToken: csrfTokenFor(found.session.token) } : null
}

export const webSession = (deps: { core: Core }) =>
  new Elysia({ name: 'parley.web.session' }).macro({
    auth: {
      async resolve({ request, body, set, status }) {
        const found = await sessionOf(deps.core.db, request)
        if (!found) {
          set.headers['cache-control'] = 'no-store'
          if (isHtmx(request)) {
            set.headers['hx-redirect'] = loginLocation(request)
            return status(401, '')
          }
          set.headers.location = loginLocation(request)
          return status(303, '')
        }
        if (!SAFE_METHODS.has(request.method)) {
          const submitted = {
            header: request.headers.get(CSRF_HEADER),
            field: (body as Record<string, unknown> | null | undefined)?.[CSRF_FIELD],
          }
          if (!csrfValid(found.session.token, submitted)) {
            set.headers['content-type'] = 'text/html; charset=utf-8'
            // An htmx page holding an old token (its session was replaced): reload it for a fresh one.
            if (isHtmx(request)) set.headers['hx-refresh'] = 'true'
            return status(403, `<!doctype html>${await FormExpiredPage()}`)
          }
        }
        return found
      },
    },
  })
