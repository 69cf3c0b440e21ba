// The dashboard in real Chromium against a real server: log in, keep an instance page open while
// the agent asks over REST, see the question arrive live, click an option, and the agent's
// waiting long-poll gets the answer. Then hostile agent text: nothing it carries may run.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { launchBrowser, liveServer, PASSWORD } from './browser.ts'

describe('dashboard in Chromium', () => {
  let browser: Browser
  let server: Awaited<ReturnType<typeof liveServer>>
  let page: Page
  const dialogs: string[] = []
  beforeAll(async () => {
    ;[browser, server] = await Promise.all([launchBrowser(), liveServer('pglite')])
    page = await browser.newPage()
    page.on('dialog', (d) => {
      dialogs.push(d.message())
      void d.dismiss()
    })
    await page.goto(`${server.base}/login`)
    await page.getByLabel('Email').fill(server.user.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: /log in/i }).click()
    await page.waitForURL(`${server.base}/`)
  }, 60_000)
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
    const streamOpen = page.waitForResponse((r) => r.url().includes('/events/instances/'))
    await page.goto(`${server.base}/instances/${id}`)
    expect((await streamOpen).headers()['content-type']).toContain('text/event-stream')
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
    await page.locator('.answered', { hasText: 'via web' }).waitFor({ timeout: 5000 })
    await expect(page.getByRole('button', { name: 'Ship it' }).count()).resolves.toBe(0)
    await expect(page.locator('.msg.user', { hasText: 'Ship it' }).count()).resolves.toBe(1)

    // The reply box: sent with htmx, the message appears, the box is empty again.
    await page.getByLabel('Reply to the agent').fill('Thanks, carry on')
    await page.getByRole('button', { name: 'Send reply' }).click()
    await page.locator('.msg.user', { hasText: 'Thanks, carry on' }).waitFor({ timeout: 5000 })
    await expect(page.getByLabel('Reply to the agent').inputValue()).resolves.toBe('')
    await expect(page.locator('.msg.user', { hasText: 'Thanks, carry on' }).count()).resolves.toBe(1)
  }, 30_000)
})
