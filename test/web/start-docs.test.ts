// Getting started shows this server's real URL and a working fresh key; /docs is generated from
// the route schemas and readable without any outside script.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { call, makeUser, type TestApp, testApp } from '../helpers.ts'
import { postForm, webGet, webLogin } from './helpers.ts'

const decode = (html: string) =>
  html
    .replace(/&#x27;/g, "'")
    .replace(/&#39;/g, "'")
    .replace(/&quot;|&#34;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')

describe('getting started and docs', () => {
  let t: TestApp
  let alice: Awaited<ReturnType<typeof makeUser>>
  beforeAll(async () => {
    t = await testApp('pglite', { env: { PUBLIC_URL: 'https://parley.example.com' } })
    alice = await makeUser(t.database.db, 'alice')
  }, 60_000)
  afterAll(() => t.close())

  test('/start gives the claude mcp add line with the public URL, and a fresh key that works on demand', async () => {
    const s = await webLogin(t.app, alice.email, 'correct horse battery')
    const page = decode((await webGet(t.app, '/start', s)).text)
    expect(page).toContain(
      `claude mcp add --transport http parley https://parley.example.com/mcp --header 'Authorization: Bearer <your-api-key>'`,
    )
    expect(page).toContain('https://parley.example.com/api/v1/messages/agent')
    expect(page).toContain('webhook_url')
    const withKey = await postForm(t.app, '/start/key', {}, s)
    expect(withKey.status).toBe(201)
    const text = decode(withKey.text)
    const key = text.match(/Bearer (prl_[A-Za-z0-9_-]+)'/)?.[1]
    expect(key).toBeDefined()
    expect(text).toContain(`parley https://parley.example.com/mcp --header 'Authorization: Bearer ${key}'`)
    expect(text).toContain(`curl -sS -X POST https://parley.example.com/api/v1/messages/agent`)
    expect((await call(t.app, 'GET', '/api/v1/auth/verify', { key })).status).toBe(200)
    expect((await postForm(t.app, '/start/key', {}, s, { csrf: false })).status).toBe(403)
  }, 30_000)

  test('/docs/json is OpenAPI listing the /api/v1 paths with their body schemas', async () => {
    const res = await webGet(t.app, '/docs/json')
    expect(res.status).toBe(200)
    const spec = JSON.parse(res.text)
    expect(spec.openapi).toStartWith('3.')
    for (const path of [
      '/api/v1/messages/agent',
      '/api/v1/messages/pending',
      '/api/v1/messages/user',
      '/api/v1/sessions/end',
      '/api/v1/auth/verify',
    ]) {
      expect(spec.paths[path]).toBeDefined()
    }
    const body = spec.paths['/api/v1/messages/agent'].post.requestBody.content['application/json'].schema
    expect(body.required).toContain('content')
    expect(Object.keys(body.properties)).toContain('requires_user_input')
    expect(
      spec.paths['/api/v1/messages/pending'].get.parameters.map((p: { name: string }) => p.name),
    ).toContain('wait')
    expect(Object.keys(spec.paths).some((p) => p.startsWith('/settings'))).toBe(false)
  }, 30_000)

  test('/docs renders the endpoints as HTML with no outside script or stylesheet', async () => {
    const res = await webGet(t.app, '/docs')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(res.text).toContain('POST /api/v1/messages/agent')
    expect(res.text).toContain('GET /api/v1/messages/pending')
    expect(res.text).toContain('requires_user_input')
    expect(res.text).not.toMatch(/(src|href)="https?:/)
    expect(res.text).not.toContain('href="/settings"')
    // A logged-in reader keeps the dashboard's nav.
    const s = await webLogin(t.app, alice.email, 'correct horse battery')
    expect((await webGet(t.app, '/docs', s)).text).toContain('href="/settings"')
  }, 30_000)
})
