// Sign-up (on and off), log-in with a generic error, throttled guessing, same-site `next`
// redirects, and escaping of the display name a person chose.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { LoginThrottle } from '../../src/auth/login-throttle.ts'
import { users } from '../../src/db/schema.ts'
import { dbKinds, makeUser, type TestApp, testApp } from '../helpers.ts'
import { postForm, sessionCookieFrom, webGet, webLogin } from './helpers.ts'

const PASSWORD = 'correct horse battery'

/** The page's text outside attribute values, where markup would take effect. */
const outsideAttributes = (html: string) => html.replace(/="[^"]*"/g, '=""')

for (const kind of dbKinds()) {
  describe(`accounts (${kind})`, () => {
    let t: TestApp
    beforeAll(async () => {
      t = await testApp(kind)
    }, 60_000)
    afterAll(() => t.close())

    test('sign-up creates the account, logs in and opens getting started; the display name is escaped', async () => {
      const email = `new-${crypto.randomUUID().slice(0, 8)}@example.com`
      const evil = '<img src=x onerror=alert(1)>"'
      const res = await postForm(t.app, '/signup', { email, password: 'a long password', display_name: evil })
      expect(res.status).toBe(303)
      expect(res.location).toBe('/start')
      const cookie = sessionCookieFrom(res)!
      const page = await webGet(t.app, '/start', { cookie })
      expect(page.status).toBe(200)
      expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;')
      expect(outsideAttributes(page.text)).not.toContain('<img')
      const again = await postForm(t.app, '/signup', { email, password: 'another password' })
      expect(again.status).toBe(409)
    }, 30_000)

    test('sign-up with a bad email or short password says which field, and creates nothing', async () => {
      const short = await postForm(t.app, '/signup', { email: 'short@example.com', password: 'abc' })
      expect(short.status).toBe(422)
      expect(short.text).toContain('Password')
      const bad = await postForm(t.app, '/signup', { email: 'not-an-email', password: 'a long password' })
      expect(bad.status).toBe(422)
      expect(bad.text).toContain('Email')
      const rows = await t.database.db.select().from(users).where(eq(users.email, 'short@example.com'))
      expect(rows).toHaveLength(0)
    }, 30_000)

    test('log-in: a good password goes to `next`; another host in `next` goes to /', async () => {
      const bob = await makeUser(t.database.db, 'bob')
      const ok = await postForm(t.app, '/login', {
        email: bob.email,
        password: PASSWORD,
        next: '/settings#keys',
      })
      expect(ok.status).toBe(303)
      expect(ok.location).toBe('/settings')
      for (const next of [
        '//evil.example/x',
        'https://evil.example/',
        '/\\evil.example',
        'javascript:alert(1)',
      ]) {
        const res = await postForm(t.app, '/login', { email: bob.email, password: PASSWORD, next })
        expect(res.status).toBe(303)
        expect(res.location).toBe('/')
      }
      // Already logged in: the log-in page sends you on.
      const s = await webLogin(t.app, bob.email, PASSWORD)
      expect((await webGet(t.app, '/login?next=/start', s)).location).toBe('/start')
      // …but never back to an account page, which would loop.
      expect((await webGet(t.app, '/login?next=/login', s)).location).toBe('/')
    }, 30_000)

    test('log-in: wrong password and unknown email get the same generic answer and no cookie', async () => {
      const carol = await makeUser(t.database.db, 'carol')
      const wrong = await postForm(t.app, '/login', { email: carol.email, password: 'nope nope nope' })
      const unknown = await postForm(t.app, '/login', {
        email: 'nobody@example.com',
        password: 'nope nope nope',
      })
      for (const res of [wrong, unknown]) {
        expect(res.status).toBe(401)
        expect(res.text).toContain('Email or password is incorrect.')
        expect(res.headers.get('set-cookie')).toBeNull()
      }
    }, 30_000)

    test('repeated failed log-ins are answered 429 with Retry-After, even with the right password', async () => {
      const dave = await makeUser(t.database.db, 'dave')
      for (let i = 0; i < 5; i++) {
        expect((await postForm(t.app, '/login', { email: dave.email, password: `guess ${i}` })).status).toBe(
          401,
        )
      }
      const locked = await postForm(t.app, '/login', { email: dave.email, password: PASSWORD })
      expect(locked.status).toBe(429)
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(locked.headers.get('set-cookie')).toBeNull()
      // Another account is not locked by dave's failures.
      const erin = await makeUser(t.database.db, 'erin')
      expect((await postForm(t.app, '/login', { email: erin.email, password: PASSWORD })).status).toBe(303)
    }, 30_000)

    test('a log-in form posted from another site is refused', async () => {
      const fred = await makeUser(t.database.db, 'fred')
      const res = await postForm(t.app, '/login', { email: fred.email, password: PASSWORD }, null, {
        headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      })
      expect(res.status).toBe(403)
      expect(res.headers.get('set-cookie')).toBeNull()
    }, 30_000)
  })
}

describe('sign-up turned off', () => {
  test('PARLEY_SIGNUP=off: the page says so and a post creates nothing', async () => {
    const t = await testApp('pglite', { env: { PARLEY_SIGNUP: 'off' } })
    try {
      const page = await webGet(t.app, '/signup')
      expect(page.text).toContain('Sign-up is turned off')
      expect(page.text).not.toContain('name="password"')
      const res = await postForm(t.app, '/signup', { email: 'x@example.com', password: 'a long password' })
      expect(res.status).toBe(403)
      expect(res.headers.get('set-cookie')).toBeNull()
      expect(await t.database.db.select().from(users).where(eq(users.email, 'x@example.com'))).toHaveLength(0)
      expect((await webGet(t.app, '/login')).text).not.toContain('href="/signup?')
    } finally {
      await t.close()
    }
  }, 60_000)
})

describe('login throttle', () => {
  test('the lock grows with each failure past the limit, expires, and counts per address too', () => {
    let now = 1_000_000
    const th = new LoginThrottle({ perEmail: 3, perIp: 5 }, () => now)
    for (let i = 0; i < 2; i++) th.recordFailure('a@x', '1.1.1.1')
    expect(th.retryAfterMs('a@x', '1.1.1.1')).toBe(0)
    th.recordFailure('a@x', '1.1.1.1')
    expect(th.retryAfterMs('a@x', '9.9.9.9')).toBe(1000)
    th.recordFailure('a@x', '1.1.1.1')
    expect(th.retryAfterMs('a@x', '9.9.9.9')).toBe(2000)
    now += 2000
    expect(th.retryAfterMs('a@x', '9.9.9.9')).toBe(0)
    // Five failures from one address, over different emails, lock that address for every email.
    th.recordFailure('b@x', '1.1.1.1')
    expect(th.retryAfterMs('c@x', '1.1.1.1')).toBeGreaterThan(0)
    expect(th.retryAfterMs('c@x', '2.2.2.2')).toBe(0)
    th.recordSuccess('a@x')
    expect(th.retryAfterMs('a@x', '2.2.2.2')).toBe(0)
  }, 30_000)
})
