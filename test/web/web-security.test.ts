// Web security over plain HTTP (no browser): CSRF on every state-changing route, found in the
// app's route table; the log-in and sign-up forms' own token; a new session id at log-in; cookie
// flags behind https; the security headers and a CSP-clean page on every HTML answer.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { CONTENT_SECURITY_POLICY } from '../../src/http/security-headers.ts'
import { call, dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'
import { BASE, formToken, postForm, sessionCookieFrom, webGet, webLogin } from './helpers.ts'

const PASSWORD = 'correct horse battery'

type Route = { method: string; path: string }
const routesOf = (t: TestApp): Route[] => (t.app as unknown as { routes: Route[] }).routes

/** A concrete URL for a route pattern: every `:param` a fresh UUID, every `*` a word. */
const concrete = (path: string) => path.replace(/:[A-Za-z_]+/g, () => uuid()).replace(/\*/g, 'x')

/** Row counts of every table: a request that was refused must leave them all as they were. */
async function rowCounts(t: TestApp): Promise<Record<string, number>> {
  const tables = await t.database.query<{ table_name: string }>(
    `select table_name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  )
  const counts: Record<string, number> = {}
  for (const { table_name } of tables) {
    const [row] = await t.database.query<{ n: number }>(`select count(*)::int as n from "${table_name}"`)
    counts[table_name] = Number(row?.n)
  }
  return counts
}

/** A GET's status, headers and text; a live stream (SSE) is closed after its headers. */
async function headOf(t: TestApp, path: string, cookie?: string) {
  const res = await t.app.handle(new Request(`${BASE}${path}`, { headers: cookie ? { cookie } : {} }))
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await res.body?.cancel()
    return { status: res.status, headers: res.headers, text: '' }
  }
  return { status: res.status, headers: res.headers, text: await res.text() }
}

/** Inline script in any form a CSP without 'unsafe-inline'/'unsafe-eval' would refuse. */
function inlineScript(html: string): string | null {
  const checks: [RegExp, string][] = [
    [/<script(?![^>]*\ssrc=)[^>]*>/i, 'a <script> without src'],
    [/\son[a-z]+\s*=/i, 'an on… handler attribute'],
    [/\shx-on[:-]/i, 'an hx-on handler (needs eval)'],
    [/js:/, 'an htmx js: expression (needs eval)'],
    [/javascript:/i, 'a javascript: URL'],
    [/\sstyle\s*=/i, 'an inline style attribute'],
    [/<style[\s>]/i, 'a <style> element'],
  ]
  for (const [pattern, what] of checks) {
    const m = html.match(pattern)
    if (m) return `${what}: ${html.slice(Math.max(0, m.index! - 60), m.index! + 80)}`
  }
  return null
}

for (const kind of dbKinds()) {
  describe(`web security (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
    }, 60_000)
    afterAll(() => t.close())

    test('every state-changing route of the route table refuses a session cookie without its CSRF token, changing nothing', async () => {
      const s = await webLogin(t.app, alice.email, PASSWORD)
      const stateChanging = routesOf(t).filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method))
      const form = { email: alice.email, password: PASSWORD, name: 'x', content: 'x' }
      const send = (method: string, path: string, cookie?: string) =>
        call(t.app, method, path, {
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
          rawBody: new URLSearchParams(form).toString(),
        })
      const before = await rowCounts(t)
      const cookieRoutes: string[] = []
      const accepted: string[] = []
      for (const route of stateChanging) {
        const method = route.method === 'ALL' ? 'POST' : route.method
        const path = concrete(route.path)
        // A route the session cookie opens sends a visitor without one to log in: with the cookie
        // but not its token it must answer 403. The others (API keys, signatures, tokens in the
        // URL, the log-in forms) must refuse with some 4xx. Every table is compared below.
        const anonymous = await send(method, path)
        const byCookie = anonymous.status === 303 && anonymous.headers.get('location')?.startsWith('/login')
        if (byCookie) cookieRoutes.push(route.path)
        const { status } = await send(method, path, s.cookie)
        const refused = byCookie ? status === 403 : status >= 400 && status < 500
        if (!refused) accepted.push(`${route.method} ${route.path} -> ${status}`)
      }
      expect(accepted).toEqual([])
      expect(await rowCounts(t)).toEqual(before)
      // The table really is read, and the session routes are told apart from the others.
      for (const path of ['/logout', '/settings/keys', '/instances/:id/reply'])
        expect(cookieRoutes).toContain(path)
      for (const path of ['/login', '/signup', '/api/v1/messages/agent'])
        expect(cookieRoutes).not.toContain(path)
      // The session itself is still fine: the refusals were about the token, not the cookie.
      expect((await webGet(t.app, '/', s)).status).toBe(200)
    }, 60_000)

    test('log-in and sign-up need the token bound to their parley_csrf cookie', async () => {
      const before = await rowCounts(t)
      for (const path of ['/login', '/signup'] as const) {
        const fields = {
          email: path === '/login' ? alice.email : `new-${uuid()}@example.com`,
          password: PASSWORD,
        }
        const none = await postForm(t.app, path, fields, null, { csrf: false })
        expect(none.status).toBe(403)
        expect(sessionCookieFrom(none)).toBeNull()
        // A token from another browser's cookie does not fit this one.
        const mine = await formToken(t.app, path)
        const theirs = await formToken(t.app, path)
        const mixed = await postForm(t.app, path, { ...fields, _csrf: theirs.csrf }, { cookie: mine.cookie })
        expect(mixed.status).toBe(403)
        expect(sessionCookieFrom(mixed)).toBeNull()
        // The refusal page carries a working form again.
        expect(none.text).toContain('name="_csrf"')
      }
      expect(await rowCounts(t)).toEqual(before)
      const ok = await postForm(t.app, '/login', { email: alice.email, password: PASSWORD })
      expect(ok.status).toBe(303)
      // Logging in ends the pre-session cookie: its token served its one form.
      expect(ok.headers.get('set-cookie')).toContain(
        'parley_csrf=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0',
      )
    }, 60_000)

    test('the session id changes at log-in and the old one ends; log-out ends it on the server', async () => {
      const first = await webLogin(t.app, alice.email, PASSWORD)
      const form = await formToken(t.app, '/login')
      // Log in again from the browser that holds `first` (switching accounts, or a planted cookie).
      const again = await postForm(
        t.app,
        '/login',
        { email: alice.email, password: PASSWORD, _csrf: form.csrf },
        { cookie: `${first.cookie}; ${form.cookie}` },
      )
      expect(again.status).toBe(303)
      const second = sessionCookieFrom(again)!
      expect(second).not.toBe(first.cookie)
      expect((await webGet(t.app, '/', { cookie: first.cookie })).status).toBe(303)
      expect((await webGet(t.app, '/', { cookie: second })).status).toBe(200)
      // An id the server never issued is not adopted: log-in issues its own.
      const planted = 'parley_session=attacker-chosen-value'
      const form2 = await formToken(t.app, '/login')
      const fresh = await postForm(
        t.app,
        '/login',
        { email: alice.email, password: PASSWORD, _csrf: form2.csrf },
        { cookie: `${planted}; ${form2.cookie}` },
      )
      expect(sessionCookieFrom(fresh)).not.toBe(planted)
      // Log-out deletes the session on the server: the cookie, replayed, opens nothing.
      const s = await webLogin(t.app, alice.email, PASSWORD)
      expect((await postForm(t.app, '/logout', {}, s)).status).toBe(303)
      expect((await webGet(t.app, '/settings', s)).status).toBe(303)
    }, 60_000)

    test('every HTML answer carries the security headers, and no page has inline script or style', async () => {
      const s = await webLogin(t.app, alice.email, PASSWORD)
      const { json } = await call(t.app, 'POST', '/api/v1/messages/agent', {
        key: alice.key,
        body: { agent_type: 'claude', content: 'Ship it?', requires_user_input: true },
      })
      const instanceId = json.agent_instance_id as string
      const pages: { what: string; res: { status: number; text: string; headers: Headers } }[] = []
      for (const route of routesOf(t).filter((r) => r.method === 'GET')) {
        const path = route.path.replace(/:id/g, instanceId).replace(/:file/, 'parley.css')
        pages.push({ what: `GET ${path}`, res: await headOf(t, path, s.cookie) })
        pages.push({ what: `GET ${path} (no session)`, res: await headOf(t, path) })
      }
      pages.push({ what: 'GET /nowhere', res: await webGet(t.app, '/nowhere', s) })
      pages.push({
        what: 'a new key',
        res: await postForm(t.app, '/settings/keys', { name: 'shown once' }, s),
      })
      pages.push({
        what: 'a bad log-in',
        res: await postForm(t.app, '/login', { email: 'x@y.z', password: 'nope' }),
      })
      let html = 0
      for (const { what, res } of pages) {
        expect([what, res.headers.get('x-content-type-options')]).toEqual([what, 'nosniff'])
        if (!res.headers.get('content-type')?.startsWith('text/html')) continue
        html++
        const csp = res.headers.get('content-security-policy')
        expect([what, csp]).toEqual([what, CONTENT_SECURITY_POLICY])
        expect([what, res.headers.get('x-frame-options')]).toEqual([what, 'DENY'])
        expect([what, res.headers.get('referrer-policy')]).toEqual([what, 'strict-origin-when-cross-origin'])
        expect([what, inlineScript(res.text)]).toEqual([what, null])
      }
      expect(html).toBeGreaterThan(8)
      // What the policy says, piece by piece.
      expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'")
      // No inline or eval'd script at all; inline style only for xterm.js's own <style> elements
      // (our pages carry none, checked above).
      const directives = CONTENT_SECURITY_POLICY.split('; ')
      expect(directives.filter((d) => d.includes('unsafe-'))).toEqual(["style-src 'self' 'unsafe-inline'"])
      expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'")
      expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'self'")
      // The copy button works from the script file, not from an inline handler.
      const copy = pages.find((p) => p.what === 'a new key')!.res.text
      expect(copy).toContain('data-copy=')
      expect(copy).toContain('<script src="/assets/parley.js"')
      const script = await webGet(t.app, '/assets/parley.js')
      expect(script.status).toBe(200)
      expect(script.headers.get('content-type')).toStartWith('text/javascript')
      // JSON answers get nosniff too.
      const api = await call(t.app, 'GET', '/api/v1/auth/verify', { key: 'prl_wrong' })
      expect(api.headers.get('x-content-type-options')).toBe('nosniff')
    }, 60_000)
  })
}

describe('cookies behind https', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await testApp('pglite')
  }, 60_000)
  afterAll(() => t.close())

  test("Secure cookies and HSTS when Fly's proxy says the browser came over https; not over plain http", async () => {
    const bob = await makeUser(t.database.db, 'bob')
    const https = { 'x-forwarded-proto': 'https' }
    const page = await t.app.handle(new Request(`${BASE}/login`, { headers: https }))
    expect(page.headers.get('set-cookie')).toContain('parley_csrf=')
    expect(page.headers.get('set-cookie')).toContain('; Secure')
    expect(page.headers.get('strict-transport-security')).toBe('max-age=31536000')
    const res = await postForm(t.app, '/login', { email: bob.email, password: PASSWORD }, null, {
      headers: https,
    })
    expect(res.status).toBe(303)
    const cookies = res.headers.get('set-cookie')!
    expect(cookies).toMatch(/^parley_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Secure; Expires=/)
    const plain = await postForm(t.app, '/login', { email: bob.email, password: PASSWORD })
    expect(plain.headers.get('set-cookie')).not.toContain('Secure')
    expect(plain.headers.get('strict-transport-security')).toBeNull()
  }, 60_000)
})
