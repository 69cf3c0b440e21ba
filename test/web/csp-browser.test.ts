// The Content-Security-Policy in a real Chromium: the dashboard runs under it without a single
// violation (htmx, its SSE stream, the copy button), while an injected inline handler is refused,
// a same-origin WebSocket is allowed (the terminal view) and one to another origin is not.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import type { makeUser, TestApp } from '../helpers.ts'
import { browserApp } from './browser.ts'

/** Every CSP violation and console error a page reports, as text. */
function watch(page: Page): string[] {
  const seen: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) seen.push(m.text())
  })
  page.on('pageerror', (e) => seen.push(`page error: ${e.message}`))
  return seen
}

describe('CSP in Chromium', () => {
  let t: TestApp
  let browser: Browser
  let base: string
  let alice: Awaited<ReturnType<typeof makeUser>>
  let close = async () => {}
  beforeAll(async () => {
    ;({ t, browser, base, alice, close } = await browserApp())
  }, 60_000)
  afterAll(() => close())

  test('the pages run without a violation; injected inline script is refused; WebSockets only to this origin', async () => {
    const context = await browser.newContext()
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
    const page = await context.newPage()
    const violations = watch(page)
    await page.goto(`${base}/login`)
    await page.getByLabel('Email').fill(alice.email)
    await page.getByLabel('Password').fill('correct horse battery')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(`${base}/`)
    const agent = await fetch(`${base}/api/v1/messages/agent`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent_type: 'claude', content: 'Ship it?', requires_user_input: true }),
    })
    const { agent_instance_id: id } = (await agent.json()) as { agent_instance_id: string }
    // The live pages open their SSE stream (connect-src) once htmx has started.
    for (const path of ['/', `/instances/${id}`]) {
      const stream = page.waitForRequest((r) => r.url().includes('/events/'))
      await page.goto(`${base}${path}`)
      await stream
    }
    for (const path of ['/start', '/docs', '/settings']) await page.goto(`${base}${path}`)
    await page.getByLabel('Name of the new key').fill('csp key')
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.waitForLoadState()
    const key = await page.getByLabel('API key', { exact: true }).inputValue()
    await page.getByRole('button', { name: 'Copy api key' }).click()
    await page.getByText('Copied').waitFor()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key)
    expect(await page.evaluate(() => typeof (window as unknown as { htmx?: unknown }).htmx)).toBe('object')
    expect(violations).toEqual([])

    // Markup injected into the page cannot run script: the handler is refused by the policy.
    const injected = await page.evaluate(async () => {
      const reports: string[] = []
      document.addEventListener('securitypolicyviolation', (e) => reports.push(e.violatedDirective))
      const div = document.createElement('div')
      div.innerHTML = '<img src="/nothing.png" onerror="window.__ran = true">'
      document.body.append(div)
      while (reports.length === 0) await new Promise((r) => setTimeout(r, 20))
      return { ran: (window as unknown as { __ran?: boolean }).__ran === true, reports }
    })
    expect(injected.ran).toBe(false)
    expect(injected.reports[0]).toStartWith('script-src')

    // connect-src 'self': a WebSocket to this origin may connect; one to another origin is refused.
    const sockets = await page.evaluate(async (port) => {
      const reports: string[] = []
      document.addEventListener('securitypolicyviolation', (e) => reports.push(e.blockedURI))
      const outcome = (url: string) =>
        new Promise<string>((resolve) => {
          try {
            const ws = new WebSocket(url)
            ws.onopen = () => resolve('open')
            ws.onerror = () => resolve('error')
          } catch (e) {
            resolve(`thrown: ${(e as Error).name}`)
          }
        })
      await outcome(`ws://127.0.0.1:${port}/relay/view/nothing-here`)
      await outcome('ws://parley-elsewhere.invalid:9/x')
      await new Promise((r) => setTimeout(r, 200))
      return reports
    }, t.app.server!.port)
    expect(sockets.some((u) => u.includes('parley-elsewhere.invalid'))).toBe(true)
    expect(sockets.some((u) => u.includes('127.0.0.1'))).toBe(false)
    await context.close()
  }, 90_000)
})
