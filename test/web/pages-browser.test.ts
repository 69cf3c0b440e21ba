// The dashboard in real Chromium against a real server: log in, keep an instance page open while
// the agent asks over REST, see the question arrive live, click an option, and the agent's
// waiting long-poll gets the answer. Then hostile agent text: nothing it carries may run.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchBrowser, liveServer, loggedInState } from './browser.ts'

describe('dashboard in Chromium', () => {
  let browser: Browser
  let server: Awaited<ReturnType<typeof liveServer>>
  let session: Awaited<ReturnType<BrowserContext['storageState']>>
  let context: BrowserContext
  let page: Page
  const dialogs: string[] = []
  beforeAll(async () => {
    ;[browser, server] = await Promise.all([launchBrowser(), liveServer('pglite')])
    session = await loggedInState(browser, server)
  }, 60_000)
  // A fresh logged-in tab per test, so one test's open streams cannot disturb the next. Waits
  // inside a test are bounded well below its timeout: bun test kills the file's child processes
  // (this browser) when a test times out, which would fail every later test too.
  beforeEach(async () => {
    context = await browser.newContext({ storageState: session })
    page = await context.newPage()
    // Watched from inside the page: SSE streams that opened, and any request for the probe URL.
    await page.addInitScript(() => {
      const w = window as unknown as { __sse: number; __probes: string[] }
      w.__sse = 0
      w.__probes = []
      document.addEventListener('htmx:sse:after:connection', () => w.__sse++)
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (e.name.includes('xss-probe')) w.__probes.push(e.name)
      }).observe({ type: 'resource', buffered: true })
      const realFetch = window.fetch
      window.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
        if (String(input instanceof Request ? input.url : input).includes('xss-probe'))
          w.__probes.push(String(input))
        return realFetch(input, init)
      }) as typeof fetch
    })
    page.on('dialog', (d) => {
      dialogs.push(d.message())
      void d.dismiss()
    })
  })
  afterEach(() => context.close())
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  test('a question asked over REST appears live; clicking an option wakes the waiting agent', async () => {
    const id = crypto.randomUUID()
    const first = await server.agent('POST', '/api/v1/messages/agent', {
      agent_instance_id: id,
      agent_type: 'claude',
      content: 'Starting the **migration**',
    })
    expect(first.status).toBe(200)
    // The page's SSE stream must be open before the agent asks.
    await page.goto(`${server.base}/instances/${id}`)
    await streamOpen()
    await expect(page.locator('.msg.agent strong', { hasText: 'migration' }).count()).resolves.toBe(1)

    const asked = await server.agent('POST', '/api/v1/messages/agent', {
      agent_instance_id: id,
      content: 'Run it on production?',
      requires_user_input: true,
      options: ['Ship it', 'Wait'],
    })
    expect(asked.status).toBe(200)
    const button = page.getByRole('button', { name: 'Ship it' })
    await button.waitFor({ timeout: 5000 })
    await expect(page.locator('.msg.open').count()).resolves.toBe(1)

    const waiting = server.agent(
      'GET',
      `/api/v1/messages/pending?agent_instance_id=${id}&last_read_message_id=${asked.json.message_id}&wait=30`,
    )
    await Bun.sleep(100) // the long-poll is parked
    const clicked = Date.now()
    await button.click()
    const pending = await waiting
    expect(Date.now() - clicked).toBeLessThan(5000)
    expect(pending.status).toBe(200)
    expect(pending.json.status).toBe('ok')
    expect(pending.json.messages.map((m: { content: string }) => m.content)).toEqual(['Ship it'])
    // Every copy updates: the question shows who answered, the buttons are gone, the reply is in the thread.
    await page.locator('.answered', { hasText: 'via the dashboard' }).waitFor({ timeout: 5000 })
    await expect(page.getByRole('button', { name: 'Ship it' }).count()).resolves.toBe(0)
    await expect(page.locator('.msg.user', { hasText: 'Ship it' }).count()).resolves.toBe(1)

    // The reply box: sent with htmx, the message appears, the box is empty again.
    await page.getByLabel('Reply to the agent').fill('Thanks, carry on')
    await page.getByRole('button', { name: 'Send reply' }).click()
    await page.locator('.msg.user', { hasText: 'Thanks, carry on' }).waitFor({ timeout: 5000 })
    await expect(page.getByLabel('Reply to the agent').inputValue()).resolves.toBe('')
    await expect(page.locator('.msg.user', { hasText: 'Thanks, carry on' }).count()).resolves.toBe(1)
  }, 60_000)

  const EVIL = [
    '<script>window.__xss = "script"</script>',
    '<img src=x onerror="window.__xss = \'img\'">',
    '<svg onload="window.__xss = \'svg\'"><circle r="5"/></svg>',
    "[click me](javascript:window.__xss='link')",
    "\"><img src=x onerror=window.__xss='attr'> ' onmouseover='window.__xss=1",
    '<div hx-get="/xss-probe" hx-trigger="load" hx-on:htmx:before:request="window.__xss=\'hx\'">hx</div>',
    '<hx-partial hx-target="body" hx-swap="innerHTML"><img src=x onerror="window.__xss=\'partial\'"></hx-partial>',
    '<a href="/xss-probe" hx-boost="true" id="evil-link">boost</a>',
  ]

  /** Resolves once the page's SSE stream is connected. */
  const streamOpen = () =>
    page.waitForFunction(() => (window as unknown as { __sse: number }).__sse > 0, undefined, {
      timeout: 15_000,
    })
  const probes = () => page.evaluate(() => (window as unknown as { __probes: string[] }).__probes)

  async function assertInert(p: Page) {
    expect(await p.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined()
    expect(dialogs).toEqual([])
    expect(await probes()).toEqual([])
    // Agent text is text: no element from it exists, and no hx-* attribute from it is live.
    const inThread = await p.evaluate(() => {
      const root = document.querySelector('#thread')!
      return {
        scripts: root.querySelectorAll('script, img, svg, iframe').length,
        // Inside rendered agent text (each .md is our hx-ignore container) no element has hx-*.
        hx: [...root.querySelectorAll('.md *, .plain *')].filter((el) =>
          [...el.attributes].some((a) => a.name.startsWith('hx-')),
        ).length,
        ignored: [...root.querySelectorAll('.md')].every((el) => el.hasAttribute('hx-ignore')),
        links: [...root.querySelectorAll('a')]
          .map((a) => a.getAttribute('href'))
          .filter((h) => h && !h.startsWith('/instances/')),
      }
    })
    expect(inThread.scripts).toBe(0)
    expect(inThread.hx).toBe(0)
    expect(inThread.ignored).toBe(true)
    expect(inThread.links).toEqual([])
  }

  test('hostile agent text renders as text and runs nothing, on load and live', async () => {
    const id = crypto.randomUUID()
    const registered = await server.agent('POST', '/api/v1/agent-instances', {
      agent_instance_id: id,
      agent_type: '<img src=x onerror="window.__xss=\'type\'">',
      name: '<script>window.__xss="name"</script>',
    })
    expect(registered.status).toBe(201)
    const diff = [
      'diff --git a/<img src=x onerror=window.__xss=1>.ts b/<img src=x onerror=window.__xss=1>.ts',
      'index 1111111..2222222 100644',
      '--- a/<img src=x onerror=window.__xss=1>.ts',
      '+++ b/<img src=x onerror=window.__xss=1>.ts',
      '@@ -1 +1 @@',
      '-<script>window.__xss="diff"</script>',
      '+<svg onload="window.__xss=1">',
    ].join('\n')
    for (const [i, content] of EVIL.entries()) {
      const sent = await server.agent('POST', '/api/v1/messages/agent', {
        agent_instance_id: id,
        content,
        ...(i === 0 ? { git_diff: diff } : {}),
      })
      expect(sent.status).toBe(200)
    }
    await server.agent('POST', '/api/v1/messages/agent', {
      agent_instance_id: id,
      content: 'Pick one <img src=x onerror="window.__xss=\'q\'">',
      requires_user_input: true,
      options: ['<script>window.__xss="opt"</script>', '" onclick="window.__xss=1'],
    })

    await page.goto(`${server.base}/instances/${id}`)
    await streamOpen()
    await page.locator('.diff-files').waitFor()
    // Each payload is on the page as the text the agent sent.
    await expect(page.locator('#thread').textContent()).resolves.toContain(
      '<script>window.__xss = "script"</script>',
    )
    await expect(page.locator('h1').textContent()).resolves.toBe('<script>window.__xss="name"</script>')
    await expect(
      page.getByRole('button', { name: '<script>window.__xss="opt"</script>' }).count(),
    ).resolves.toBe(1)
    await expect(page.locator('.diff').textContent()).resolves.toContain('<svg onload="window.__xss=1">')
    await Bun.sleep(300) // give anything that might fire (onerror, hx-trigger=load) the chance to
    await assertInert(page)

    // The same payloads arriving live over SSE.
    for (const content of EVIL)
      await server.agent('POST', '/api/v1/messages/agent', { agent_instance_id: id, content })
    await page.locator('.msg.agent', { hasText: 'boost' }).nth(1).waitFor({ timeout: 5000 })
    await Bun.sleep(300)
    await assertInert(page)

    // And in the inbox row previews, also re-rendered live.
    await page.goto(`${server.base}/`)
    await streamOpen()
    await expect(page.locator(`#row-${id}`).textContent()).resolves.toContain(
      '<script>window.__xss="name"</script>',
    )
    await server.agent('POST', '/api/v1/messages/agent', { agent_instance_id: id, content: EVIL[1] })
    await page.locator(`#row-${id} .preview`, { hasText: 'onerror' }).waitFor({ timeout: 5000 })
    await Bun.sleep(300)
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined()
    expect(await page.locator('#inbox-rows img, #inbox-rows script, #inbox-rows svg').count()).toBe(0)
    expect(dialogs).toEqual([])
    expect(await probes()).toEqual([])
  }, 60_000)

  test('phone width without sideways scrolling, keyboard focus visible, older messages on scroll up', async () => {
    const id = crypto.randomUUID()
    for (let i = 1; i <= 60; i++) {
      await server.agent('POST', '/api/v1/messages/agent', {
        agent_instance_id: id,
        agent_type: 'claude',
        content: `step ${i}: ${'a-long-unbroken-word'.repeat(i === 60 ? 8 : 1)}`,
      })
    }
    await page.setViewportSize({ width: 360, height: 700 })
    await page.goto(`${server.base}/instances/${id}#latest`)
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(await overflow()).toBeLessThanOrEqual(0)
    // Scrolling up to the top loads the previous page in place.
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.locator('.msg', { hasText: 'step 1:' }).waitFor({ timeout: 5000 })
    await expect(page.locator('.msg').count()).resolves.toBe(60)
    await expect(page.locator('.thread-start').count()).resolves.toBe(1)

    // Keyboard: the reply box is reachable with Tab and shows a focus outline.
    await page.getByLabel('Reply to the agent').focus()
    await page.keyboard.press('Shift+Tab')
    await page.keyboard.press('Tab')
    const outline = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement
      return { id: el.id, style: getComputedStyle(el).outlineStyle }
    })
    expect(outline).toEqual({ id: 'reply-content', style: 'solid' })

    await page.goto(`${server.base}/`)
    expect(await overflow()).toBeLessThanOrEqual(0)
  }, 60_000)
})
