// Browser-like requests to the dashboard: log in through the real /login form, keep the session
// cookie, and post forms with the page's CSRF token, as a person with a browser would (the log-in
// and sign-up forms are fetched first, for the token bound to their parley_csrf cookie).
import { readCookie, SESSION_COOKIE } from '../../src/auth/web-sessions.ts'

type Handler = { handle(r: Request): Promise<Response> }
export type WebSessionCookies = { cookie: string; csrf: string }

export const BASE = 'http://parley.test'

export type WebResponse = { status: number; text: string; headers: Headers; location: string | null }

async function read(res: Response): Promise<WebResponse> {
  return {
    status: res.status,
    text: await res.text(),
    headers: res.headers,
    location: res.headers.get('location'),
  }
}

/** The CSRF token a page gives htmx (meta tag) and its forms (hidden field). */
export function csrfFrom(html: string): string | null {
  return html.match(/<meta name="csrf-token" content="([^"]+)"/)?.[1] ?? null
}

/** The hidden `_csrf` field of a form page. */
export function csrfFieldFrom(html: string): string | null {
  return html.match(/<input type="hidden" name="_csrf" value="([^"]+)"/)?.[1] ?? null
}

/** What a browser holds after opening the log-in or sign-up page: its cookie and its form's token. */
export async function formToken(app: Handler, path: '/login' | '/signup'): Promise<WebSessionCookies> {
  const res = await app.handle(new Request(`${BASE}${path}`))
  // A page without the form (sign-up turned off) gives no token: the post is sent without one.
  return {
    cookie: res.headers.get('set-cookie')?.split(';')[0] ?? '',
    csrf: csrfFieldFrom(await res.text()) ?? '',
  }
}

/** The `name=value` pair of the session cookie a response sets, or null. */
export function sessionCookieFrom(res: { headers: Headers }): string | null {
  const set = res.headers.get('set-cookie')
  const value = set ? readCookie(set.split(';')[0], SESSION_COOKIE) : null
  return value ? `${SESSION_COOKIE}=${value}` : null
}

export async function webGet(
  app: Handler,
  path: string,
  session?: { cookie: string } | null,
  headers: Record<string, string> = {},
) {
  const h: Record<string, string> = { ...headers }
  if (session) h.cookie = session.cookie
  return read(await app.handle(new Request(`${BASE}${path}`, { headers: h })))
}

/**
 * A urlencoded form post. With a session the page's CSRF token is sent as `_csrf` unless the
 * fields set `_csrf` themselves (or `csrf: false` leaves it out). Without a session, a post to
 * /login or /signup first opens that page, as a browser would, for its cookie and token.
 */
export async function postForm(
  app: Handler,
  path: string,
  fields: Record<string, string | string[]>,
  session?: Partial<WebSessionCookies> | null,
  opts: { csrf?: boolean; headers?: Record<string, string> } = {},
): Promise<WebResponse> {
  if (!session && (path === '/login' || path === '/signup') && opts.csrf !== false && !('_csrf' in fields))
    session = await formToken(app, path)
  const form = new URLSearchParams()
  for (const [k, v] of Object.entries(fields))
    for (const one of Array.isArray(v) ? v : [v]) form.append(k, one)
  if (session?.csrf && opts.csrf !== false && !('_csrf' in fields)) form.set('_csrf', session.csrf)
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    ...opts.headers,
  }
  if (session?.cookie) headers.cookie = session.cookie
  return read(
    await app.handle(new Request(`${BASE}${path}`, { method: 'POST', headers, body: form.toString() })),
  )
}

/** Logs in through the /login form; throws with the page's text if it did not work. */
export async function webLogin(app: Handler, email: string, password: string): Promise<WebSessionCookies> {
  const res = await postForm(app, '/login', { email, password })
  const cookie = sessionCookieFrom(res)
  if (res.status !== 303 || !cookie)
    throw new Error(`login failed (${res.status}): ${res.text.slice(0, 300)}`)
  const page = await webGet(app, '/', { cookie })
  const csrf = csrfFrom(page.text)
  if (!csrf) throw new Error(`no CSRF token on / after login (${page.status})`)
  return { cookie, csrf }
}
