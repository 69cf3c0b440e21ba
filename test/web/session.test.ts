// The dashboard session: cookie flags, only a hash stored, redirects to log in (and HX-Redirect
// for htmx), CSRF required on state-changing requests, and log-out ending the session.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { sha256 } from '../../src/auth/api-keys.ts'
import { webSessions } from '../../src/db/schema.ts'
import { dbKinds, makeUser, type TestApp, testApp } from '../helpers.ts'
import { postForm, sessionCookieFrom, webGet, webLogin } from './helpers.ts'

const PASSWORD = 'correct horse battery'

for (const kind of dbKinds()) {
  describe(`web session (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
    }, 60_000)
    afterAll(() => t.close())

    test('the session cookie is HttpOnly, SameSite=Lax, not Secure over http; the database holds only its sha256', async () => {
      const res = await postForm(t.app, '/login', { email: alice.email, password: PASSWORD })
      const setCookie = res.headers.get('set-cookie')!
      expect(setCookie).toContain('HttpOnly')
      expect(setCookie).toContain('SameSite=Lax')
      expect(setCookie).not.toContain('Secure')
      const token = sessionCookieFrom(res)!.split('=')[1]!
      const rows = await t.database.db.select().from(webSessions).where(eq(webSessions.userId, alice.id))
      expect(rows.some((r) => r.tokenHash === sha256(token))).toBe(true)
      expect(rows.some((r) => r.tokenHash === token)).toBe(false)
      expect(rows.every((r) => r.expiresAt.getTime() > Date.now())).toBe(true)
    }, 30_000)

    test('without a session a page redirects to /login with next; htmx gets HX-Redirect', async () => {
      const res = await webGet(t.app, '/?q=build%20bot')
      expect(res.status).toBe(303)
      expect(res.location).toBe(`/login?next=${encodeURIComponent('/?q=build%20bot')}`)
      const hx = await webGet(t.app, '/', null, { 'hx-request': 'true' })
      expect(hx.status).toBe(401)
      expect(hx.headers.get('hx-redirect')).toBe('/login')
      const forged = await webGet(t.app, '/', { cookie: 'parley_session=not-a-real-token' })
      expect(forged.status).toBe(303)
    }, 30_000)

    test('a state-changing post without the CSRF token is refused with 403 and changes nothing', async () => {
      const s = await webLogin(t.app, alice.email, PASSWORD)
      const noToken = await postForm(t.app, '/logout', {}, s, { csrf: false })
      expect(noToken.status).toBe(403)
      const wrong = await postForm(t.app, '/logout', { _csrf: 'x'.repeat(43) }, s)
      expect(wrong.status).toBe(403)
      // Another session's token does not work either: tokens are bound to their session.
      const other = await webLogin(t.app, alice.email, PASSWORD)
      expect((await postForm(t.app, '/logout', { _csrf: other.csrf }, s)).status).toBe(403)
      expect((await webGet(t.app, '/', s)).status).toBe(200)
    }, 30_000)

    test('an expired session is no session', async () => {
      const s = await webLogin(t.app, alice.email, PASSWORD)
      const token = s.cookie.split('=')[1]!
      await t.database.db
        .update(webSessions)
        .set({ expiresAt: new Date(Date.now() - 1000) })
        .where(eq(webSessions.tokenHash, sha256(token)))
      expect((await webGet(t.app, '/', s)).status).toBe(303)
    }, 30_000)

    test('an htmx post with a stale token is refused and told to reload the page', async () => {
      const s = await webLogin(t.app, alice.email, PASSWORD)
      const res = await postForm(
        t.app,
        '/logout',
        {},
        { cookie: s.cookie },
        { headers: { 'hx-request': 'true', 'x-csrf-token': 'stale' } },
      )
      expect(res.status).toBe(403)
      expect(res.headers.get('hx-refresh')).toBe('true')
      expect((await webGet(t.app, '/', s)).status).toBe(200)
    }, 30_000)

    test('the X-CSRF-Token header (as htmx sends it) is accepted; log-out revokes the session row', async () => {
      const s = await webLogin(t.app, alice.email, PASSWORD)
      const res = await postForm(
        t.app,
        '/logout',
        {},
        { cookie: s.cookie },
        { headers: { 'x-csrf-token': s.csrf } },
      )
      expect(res.status).toBe(303)
      expect(res.location).toBe('/login')
      expect(res.headers.get('set-cookie')).toContain('Max-Age=0')
      const token = s.cookie.split('=')[1]!
      const rows = await t.database.db
        .select()
        .from(webSessions)
        .where(eq(webSessions.tokenHash, sha256(token)))
      expect(rows).toHaveLength(0)
      // The old cookie, replayed, is no longer a session.
      expect((await webGet(t.app, '/', s)).status).toBe(303)
    }, 30_000)

    test('htmx and its SSE extension are served from node_modules; pages link them and no CDN', async () => {
      const s = await webLogin(t.app, alice.email, PASSWORD)
      const page = await webGet(t.app, '/', s)
      expect(page.text).toContain('<script src="/assets/htmx.js"')
      expect(page.text).toContain('<script src="/assets/hx-sse.js"')
      expect(page.text).toContain('name="viewport"')
      expect(page.text).not.toMatch(/https?:\/\/[^"]*\.(js|css)"/)
      const htmx = await webGet(t.app, '/assets/htmx.js')
      expect(htmx.status).toBe(200)
      expect(htmx.text).toContain('htmx')
      const sse = await webGet(t.app, '/assets/hx-sse.js')
      expect(sse.status).toBe(200)
      expect(sse.text).toContain('registerExtension')
      expect((await webGet(t.app, '/assets/parley.css')).status).toBe(200)
      expect((await webGet(t.app, '/assets/nope.js')).status).toBe(404)
    }, 30_000)
  })
}

describe('web session over https', () => {
  test('the cookie is Secure when PUBLIC_URL is https', async () => {
    const t = await testApp('pglite', { env: { PUBLIC_URL: 'https://parley.example.com' } })
    try {
      const bob = await makeUser(t.database.db, 'bob')
      const res = await postForm(t.app, '/login', { email: bob.email, password: PASSWORD })
      expect(res.status).toBe(303)
      expect(res.headers.get('set-cookie')).toContain('; Secure')
    } finally {
      await t.close()
    }
  }, 60_000)
})
