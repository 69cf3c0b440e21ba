// Sign-up, log-in and log-out. Log-in answers the same generic error for an unknown email and a
// wrong password, and is slowed down after repeated failures (see auth/login-throttle.ts).
// Sign-up can be turned off with PARLEY_SIGNUP=off: the page says so and posts are refused.
// Both forms carry a CSRF token bound to the parley_csrf cookie (there is no session yet) and are
// refused from other sites; a successful log-in ends the session the browser had (no fixation).
import { Elysia } from 'elysia'
import { LoginPage, SignupPage, ThrottledPage } from '../../views/accounts.tsx'
import {
  CSRF_FIELD,
  CSRF_HEADER,
  csrfTokenFor,
  csrfValid,
  FORM_CSRF_COOKIE,
  newCsrfSeed,
} from '../auth/csrf.ts'
import { LoginThrottle } from '../auth/login-throttle.ts'
import { verifyPassword } from '../auth/passwords.ts'
import {
  cookieHeader,
  createWebSession,
  readCookie,
  revokeWebSession,
  sessionCookie,
} from '../auth/web-sessions.ts'
import { MAX_DISPLAY_NAME } from '../core/profile.ts'
import { createUser, normalizeEmail, userByEmail } from '../core/users.ts'
import { AppError, hasCode } from '../errors.ts'
import { secureCookies, type WebDeps } from './deps.ts'
import { clientAddress, crossSite, field, htmlResponse, safeNext, seeOther } from './http.ts'
import { sessionOf, webSession } from './session.ts'

const GENERIC_LOGIN_ERROR = 'Email or password is incorrect.'
const CROSS_SITE = 'This form was sent from another site and was ignored.'
const EXPIRED = 'This form has expired. Nothing was sent; please try again.'

/** The seed of the log-in and sign-up forms' CSRF token: the visitor's cookie, or a new one. */
function formSeed(request: Request): { seed: string; fresh: boolean } {
  const seed = readCookie(request.headers.get('cookie'), FORM_CSRF_COOKIE)
  return seed ? { seed, fresh: false } : { seed: newCsrfSeed(), fresh: true }
}

/** True when a log-in or sign-up post carries the token of the browser's parley_csrf cookie. */
function formTokenValid(request: Request, body: unknown): boolean {
  const seed = readCookie(request.headers.get('cookie'), FORM_CSRF_COOKIE)
  if (!seed) return false
  const submitted = { header: request.headers.get(CSRF_HEADER), field: field(body, CSRF_FIELD) }
  return csrfValid(seed, submitted)
}

export function webAccounts(deps: WebDeps) {
  const throttle = deps.loginThrottle ?? new LoginThrottle()
  const { db } = deps.core

  /** A new session for the user; the one this browser had (if any) ends, so no id survives log-in. */
  const startSession = async (request: Request, userId: string, next: string) => {
    const previous = await sessionOf(db, request)
    if (previous) await revokeWebSession(db, previous.session.id)
    const session = await createWebSession(db, userId)
    const secure = secureCookies(deps.config, request)
    return seeOther(next, [
      ['set-cookie', sessionCookie(session.token, { secure, expiresAt: session.expiresAt })],
      ['set-cookie', cookieHeader(FORM_CSRF_COOKIE, null, { secure })],
    ])
  }

  /** A log-in or sign-up page with its form's token (and the cookie it is bound to, when new). */
  const formPage = (
    request: Request,
    render: (csrfToken: string) => ReturnType<typeof LoginPage>,
    status = 200,
  ) => {
    const { seed, fresh } = formSeed(request)
    const secure = secureCookies(deps.config, request)
    const headers: Record<string, string> = fresh
      ? { 'set-cookie': cookieHeader(FORM_CSRF_COOKIE, seed, { secure }) }
      : {}
    return htmlResponse(render(csrfTokenFor(seed)), status, headers)
  }

  const signedIn = (request: Request) => sessionOf(db, request)

  return new Elysia({ name: 'parley.web.accounts' })
    .use(webSession(deps))
    .get('/login', async ({ request, query }) => {
      const next = safeNext(query.next)
      if (await signedIn(request)) return seeOther(next)
      return formPage(request, (csrfToken) => LoginPage({ next, csrfToken, signup: deps.config.signup }))
    })
    .post('/login', async ({ request, body, server }) => {
      const next = safeNext(field(body, 'next'))
      const email = normalizeEmail(field(body, 'email'))
      const password =
        typeof (body as Record<string, unknown>)?.password === 'string'
          ? String((body as Record<string, unknown>).password)
          : ''
      const page = (error: string, status: number) =>
        formPage(
          request,
          (csrfToken) => LoginPage({ next, csrfToken, email, error, signup: deps.config.signup }),
          status,
        )
      if (crossSite(request, deps.config.publicUrl)) return page(CROSS_SITE, 403)
      if (!formTokenValid(request, body)) return page(EXPIRED, 403)
      if (!email || !password) return page('Enter your email and password.', 422)
      const ip = clientAddress(request, server?.requestIP(request)?.address, deps.config)
      const wait = throttle.retryAfterMs(email, ip)
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000)
        return htmlResponse(ThrottledPage({ seconds }), 429, { 'retry-after': String(seconds) })
      }
      const user = await userByEmail(db, email).catch((err) => {
        if (hasCode(err, 'NOT_FOUND')) return null
        throw err
      })
      if (!(await verifyPassword(password, user?.passwordHash)) || !user) {
        throttle.recordFailure(email, ip)
        return page(GENERIC_LOGIN_ERROR, 401)
      }
      throttle.recordSuccess(email)
      return startSession(request, user.id, next)
    })
    .get('/signup', async ({ request, query }) => {
      const next = safeNext(query.next)
      if (deps.config.signup && (await signedIn(request))) return seeOther(next)
      return formPage(
        request,
        (csrfToken) => SignupPage({ enabled: deps.config.signup, next, csrfToken }),
        deps.config.signup ? 200 : 403,
      )
    })
    .post('/signup', async ({ request, body }) => {
      const next = safeNext(field(body, 'next') || '/start')
      if (!deps.config.signup) return htmlResponse(SignupPage({ enabled: false, next, csrfToken: '' }), 403)
      const email = field(body, 'email')
      const displayName = field(body, 'display_name')
      const page = (error: string, status: number) =>
        formPage(
          request,
          (csrfToken) => SignupPage({ enabled: true, next, csrfToken, email, displayName, error }),
          status,
        )
      if (crossSite(request, deps.config.publicUrl)) return page(CROSS_SITE, 403)
      if (!formTokenValid(request, body)) return page(EXPIRED, 403)
      if (displayName.length > MAX_DISPLAY_NAME)
        return page(`Display name must be at most ${MAX_DISPLAY_NAME} characters.`, 422)
      const password =
        typeof (body as Record<string, unknown>)?.password === 'string'
          ? String((body as Record<string, unknown>).password)
          : ''
      try {
        const user = await createUser(db, { email, password, displayName: displayName || null })
        return startSession(request, user.id, next === '/' ? '/start' : next)
      } catch (err) {
        if (hasCode(err, 'CONFLICT'))
          return page('An account with this email already exists. Log in instead.', 409)
        if (err instanceof AppError && err.field)
          return page(`${label(err.field)}: ${err.message.replace(/^\w+ /, '')}`, 422)
        throw err
      }
    })
    .post(
      '/logout',
      async ({ session, request }) => {
        await revokeWebSession(db, session.id)
        const secure = secureCookies(deps.config, request)
        return seeOther('/login', { 'set-cookie': sessionCookie(null, { secure }) })
      },
      { auth: true },
    )
}

const label = (f: string) => (f === 'email' ? 'Email' : f === 'password' ? 'Password' : f)
