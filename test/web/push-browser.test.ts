// The installable dashboard in real Chromium: the manifest and its icons, the service worker
// registered at the root and showing "You are offline" when the network is gone, the title
// counting waiting questions live, and a notification from the open tab when it is hidden
// (Notification stubbed: headless Chromium cannot show one). Screenshots at phone and desktop
// sizes go to /tmp for a person to look at.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext } from 'playwright-core'
import { savePushSubscription } from '../../src/core/push-subscriptions.ts'
import { FakePushService } from '../fakes/push.ts'
import { launchBrowser, liveServer, loggedInState } from './browser.ts'

describe('installable dashboard in Chromium', () => {
  let browser: Browser
  let server: Awaited<ReturnType<typeof liveServer>>
  let session: Awaited<ReturnType<BrowserContext['storageState']>>
  beforeAll(async () => {
    ;[browser, server] = await Promise.all([launchBrowser(), liveServer('pglite')])
    session = await loggedInState(browser, server)
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  const ask = (instanceId: string, content: string) =>
    server.agent('POST', '/api/v1/messages/agent', {
      agent_instance_id: instanceId,
      agent_type: 'claude',
      content,
      requires_user_input: true,
      options: ['Allow', 'Deny'],
    })

  test('manifest, icons and service worker; offline shows "You are offline"', async () => {
    const context = await browser.newContext({ storageState: session, viewport: { width: 390, height: 844 } })
    const page = await context.newPage()
    await page.goto(`${server.base}/`)
    const manifest = await page.evaluate(async () => {
      const href = document.querySelector('link[rel="manifest"]')?.getAttribute('href')
      return href ? (await fetch(href)).json() : null
    })
    expect(manifest).toMatchObject({ name: 'Parley', display: 'standalone', theme_color: expect.any(String) })
    const icons = manifest.icons as { src: string; sizes: string; purpose: string }[]
    for (const [sizes, purpose] of [
      ['192x192', 'any'],
      ['512x512', 'any'],
      ['192x192', 'maskable'],
      ['512x512', 'maskable'],
    ]) {
      const icon = icons.find((i) => i.sizes === sizes && i.purpose === purpose)!
      const res = await fetch(server.base + icon.src)
      expect(res.headers.get('content-type')).toBe('image/png')
      const png = Buffer.from(await res.arrayBuffer())
      expect(png.readUInt32BE(16)).toBe(Number(sizes!.split('x')[0]))
    }
    for (const rel of ['icon', 'apple-touch-icon']) {
      const href = await page.locator(`link[rel="${rel}"]`).getAttribute('href')
      expect((await fetch(server.base + href)).status).toBe(200)
    }
    const scope = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready
      return { script: reg.active?.scriptURL, scope: reg.scope }
    })
    expect(scope).toEqual({ script: `${server.base}/sw.js`, scope: `${server.base}/` })
    await page.reload() // the worker now controls the page
    await page.screenshot({ path: '/tmp/parley-push-inbox-390.png' })
    await context.setOffline(true)
    await page.goto(`${server.base}/settings`).catch(() => {})
    await expect(page.locator('h1').textContent()).resolves.toBe('You are offline')
    await page.screenshot({ path: '/tmp/parley-push-offline-390.png' })
    await context.close()
  }, 30_000)

  test('the title counts waiting questions live; a hidden tab gets a notification', async () => {
    const context = await browser.newContext({
      storageState: session,
      viewport: { width: 1280, height: 800 },
    })
    const page = await context.newPage()
    await page.addInitScript(() => {
      const w = window as unknown as { __shown: { title: string; body: string }[] }
      w.__shown = []
      Object.defineProperty(document, 'hidden', { get: () => true })
      class FakeNotification {
        static permission = 'granted'
        onclick: (() => void) | null = null
        constructor(title: string, options: { body: string }) {
          w.__shown.push({ title, body: options.body })
        }
      }
      Object.defineProperty(window, 'Notification', { value: FakeNotification })
    })
    await page.goto(`${server.base}/settings`)
    await page.waitForFunction(() => document.documentElement.dataset.waiting !== undefined)
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()]
    const questions: string[] = []
    for (const [i, id] of ids.entries()) {
      questions.push((await ask(id, `Delete **branch ${i}**?`)).json.message_id)
    }
    await page.waitForFunction(() => document.title.startsWith('(3) '), null, { timeout: 5000 })
    expect(await page.title()).toBe('(3) Settings · Parley')
    const shown = await page.evaluate(() => (window as unknown as { __shown: unknown[] }).__shown)
    expect(shown.at(-1)).toEqual({ title: expect.stringContaining('claude'), body: 'Delete branch 2?' })
    const answered = await server.agent('POST', '/api/v1/messages/user', {
      agent_instance_id: ids[0],
      content: 'Deny',
    })
    expect(answered.status).toBe(200)
    await page.waitForFunction(() => document.title.startsWith('(2) '), null, { timeout: 5000 })
    await page.goto(`${server.base}/`)
    await page.waitForFunction(() => document.title === '(2) Parley', null, { timeout: 5000 })
    // A second tab shows the count too, from the first tab's stream (one per browser).
    const second = await context.newPage()
    const streams: string[] = []
    second.on('request', (r) => {
      if (r.url().endsWith('/events/waiting')) streams.push(r.url())
    })
    await second.goto(`${server.base}/settings`)
    await second.waitForFunction(() => document.title === '(2) Settings · Parley', null, { timeout: 5000 })
    expect(streams).toEqual([])
    await second.close()
    await page.screenshot({ path: '/tmp/parley-push-inbox-1280.png' })
    await page.goto(`${server.base}/settings`)
    await page.screenshot({ path: '/tmp/parley-push-settings-1280.png', fullPage: true })
    await page.setViewportSize({ width: 390, height: 844 })
    await page.screenshot({ path: '/tmp/parley-push-settings-390.png', fullPage: true })
    await expect(page.getByRole('button', { name: 'Notify this device' }).isVisible()).resolves.toBe(true)
    await context.close()
  }, 30_000)

  test('the service worker shows a push and its button answers the waiting agent', async () => {
    const context = await browser.newContext({ storageState: session })
    await context.grantPermissions(['notifications'], { origin: server.base })
    const page = await context.newPage()
    await page.goto(`${server.base}/settings`)
    await page.evaluate(() => navigator.serviceWorker.ready)
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'))
    const instanceId = crypto.randomUUID()
    const questionId = (await ask(instanceId, 'Push to main?')).json.message_id as string
    const db = server.parley.database.db
    const fake = new FakePushService()
    const subscriptionId = await savePushSubscription(db, server.user.id, fake.device().subscription, 'test')
    await fake.stop()
    const token = await server.parley.push.links.sign({ subscriptionId, questionId, actions: ['0', '1'] })
    const payload = {
      title: 'claude',
      body: 'Push to main?',
      url: `/instances/${instanceId}`,
      tag: `q-${questionId}`,
      actions: [
        { action: '0', title: 'Allow' },
        { action: '1', title: 'Deny' },
      ],
      answer_url: `${server.base}/push/answer/${token}`,
    }
    const waiting = server.agent(
      'GET',
      `/api/v1/messages/pending?agent_instance_id=${instanceId}&last_read_message_id=${questionId}&wait=20`,
    )
    const shown = await worker.evaluate(async (data) => {
      // Inside the service worker (its types are not in this project's DOM lib).
      type Shown = { title: string; body: string; actions: { title: string }[] }
      const sw = self as unknown as {
        registration: { getNotifications(filter: { tag: string }): Promise<Shown[]> }
        dispatchEvent(event: Event): boolean
        PushEvent: new (type: string, init: { data: string }) => Event
        NotificationEvent: new (type: string, init: { notification: Shown; action: string }) => Event
      }
      const done: Promise<unknown>[] = []
      const fire = (event: Event) => {
        Object.defineProperty(event, 'waitUntil', { value: (p: Promise<unknown>) => done.push(p) })
        sw.dispatchEvent(event)
        return Promise.all(done)
      }
      await fire(new sw.PushEvent('push', { data: JSON.stringify(data) }))
      const [n] = await sw.registration.getNotifications({ tag: data.tag })
      if (!n) return null
      await fire(new sw.NotificationEvent('notificationclick', { notification: n, action: '0' }))
      const [after] = await sw.registration.getNotifications({ tag: data.tag })
      return { title: n.title, actions: n.actions.map((a) => a.title), after: after?.body ?? null }
    }, payload)
    expect(shown).toEqual({ title: 'claude', actions: ['Allow', 'Deny'], after: 'Answered: Allow' })
    const pending = await waiting
    expect(pending.json.messages.map((m: { content: string }) => m.content)).toEqual(['Allow'])
    await context.close()
  }, 30_000)
})
