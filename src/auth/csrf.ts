// CSRF tokens bound to the session. The token is derived from the session's secret cookie token,
// so it needs no storage and no server secret, changes with every login, and cannot be computed
// by another site (which never sees the cookie) nor from the database (which holds only a
// different hash of it). Checked on every state-changing request, in constant time.
import { timingSafeEqual } from 'node:crypto'

export const CSRF_FIELD = '_csrf'
export const CSRF_HEADER = 'x-csrf-token'

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
