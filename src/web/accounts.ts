// Sign-up, log-in and log-out. Log-in answers the same generic error for an unknown email and a
// wrong password, and is slowed down after repeated failures (see auth/login-throttle.ts).
// Sign-up can be turned off with PARLEY_SIGNUP=off: the page says so and posts are refused.
import { Elysia } from 'elysia'
import { LoginPage, SignupPage, ThrottledPage } from '../../views/accounts.tsx'
import { LoginThrottle } from '../auth/login-throttle.ts'
import { verifyPassword } from '../auth/passwords.ts'
import { createWebSession, revokeWebSession, sessionCookie } from '../auth/web-sessions.ts'
import { MAX_DISPLAY_NAME } from '../core/profile.ts'
import { createUser, normalizeEmail, userByEmail } from '../core/users.ts'
import { AppError, hasCode } from '../errors.ts'
import { secureCookies, type WebDeps } from './deps.ts'
import { clientAddress, crossSite, field, htmlResponse, safeNext, seeOther } from './http.ts'
import { sessionOf, webSession } from './session.ts'

const GENERIC_LOGIN_ERROR = 'Email or password is incorrect.'
const CROSS_SITE = 'This form was sent from another site and was ignored.'

export function webAccounts(deps: WebDeps) {
  const throttle = deps.loginThrottle ?? new LoginThrottle()
  const secure = secureCookies(deps.config)
  const { db } = deps.core

  const startSession = async (userId: string, next: string) => {
    const session = await createWebSession(db, userId)
    return seeOther(next, {
      'set-cookie': sessionCookie(session.token, { secure, expiresAt: session.expiresAt }),
    })
  }

  const signedIn = (request: Request) => sessionOf(db, request)

  return new Elysia({ name: 'parley.web.accounts' })
    .use(webSession(deps))
    .get('/login', async ({ request, query }) => {
      const next = safeNext(query.next)
      if (await signedIn(request)) return seeOther(next)
      return htmlResponse(LoginPage({ next, signup: deps.config.signup }))
    })
    .post('/login', async ({ request, body, server }) => {
      const next = safeNext(field(body, 'next'))
      const email = normalizeEmail(field(body, 'email'))
      const password =
        typeof (body as Record<string, unknown>)?.password === 'string'
          ? String((body as Record<string, unknown>).password)
          : ''
      const page = (error: string, status: number) =>
        htmlResponse(LoginPage({ next, email, error, signup: deps.config.signup }), status)
      if (crossSite(request, deps.config.publicUrl)) return page(CROSS_SITE, 403)
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
      return startSession(user.id, next)
    })
    .get('/signup', async ({ request, query }) => {
      const next = safeNext(query.next)
      if (deps.config.signup && (await signedIn(request))) return seeOther(next)
      return htmlResponse(SignupPage({ enabled: deps.config.signup, next }), deps.config.signup ? 200 : 403)
    })
    .post('/signup', async ({ request, body }) => {
      const next = safeNext(field(body, 'next') || '/start')
      if (!deps.config.signup) return htmlResponse(SignupPage({ enabled: false, next }), 403)
      const email = field(body, 'email')
      const displayName = field(body, 'display_name')
      const page = (error: string, status: number) =>
        htmlResponse(SignupPage({ enabled: true, next, email, displayName, error }), status)
      if (crossSite(request, deps.config.publicUrl)) return page(CROSS_SITE, 403)
      if (displayName.length > MAX_DISPLAY_NAME)
        return page(`Display name must be at most ${MAX_DISPLAY_NAME} characters.`, 422)
      const password =
        typeof (body as Record<string, unknown>)?.password === 'string'
          ? String((body as Record<string, unknown>).password)
          : ''
      try {
        const user = await createUser(db, { email, password, displayName: displayName || null })
        return startSession(user.id, next === '/' ? '/start' : next)
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
      async ({ session }) => {
        await revokeWebSession(db, session.id)
        return seeOther('/login', { 'set-cookie': sessionCookie(null, { secure }) })
      },
      { auth: true },
    )
}

const label = (f: string) => (f === 'email' ? 'Email' : f === 'password' ? 'Password' : f)
