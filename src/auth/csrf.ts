// CSRF tokens bound to the session. The token is derived from the session's secret cookie token,
// so it needs no storage and no server secret, changes with every login, and cannot be computed
// by another site (which never sees the cookie) nor from the database (which holds only a
// different hash of it). Checked on every state-changing request, in constant time.
//
// The log-in and sign-up forms come before any session, so they are bound the same way to a
// random seed kept in their own HttpOnly cookie (`parley_csrf`, a double-submit token): a page on
// another site can neither read that cookie nor the token derived from it.
import { timingSafeEqual } from 'node:crypto'

export const CSRF_FIELD = '_csrf'
export const CSRF_HEADER = 'x-csrf-token'
/** The cookie holding the seed of the log-in and sign-up forms' token (before any session). */
export const FORM_CSRF_COOKIE = 'parley_csrf'

/** A fresh random seed for FORM_CSRF_COOKIE. */
export const newCsrfSeed = (): string =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')

/** The token forms carry for a session token (or a pre-session seed). */
export function csrfTokenFor(sessionToken: string): string {
  return new Bun.CryptoHasher('sha256').update(`parley-csrf:${sessionToken}`).digest('base64url')
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** True when the request carries the session's token in the `_csrf` field or the X-CSRF-Token header. */
export function csrfValid(
  sessionToken: string,
  submitted: { header?: string | null; field?: unknown },
): boolean {
  const expected = csrfTokenFor(sessionToken)
  const candidates = [submitted.header, submitted.field].filter(
    (v): v is string => typeof v === 'string' && v !== '',
  )
  return candidates.some((c) => constantTimeEqual(c, expected))
}
