// The dashboard terminal in real Chromium against a real server: an agent streams output over
// /relay/agent, the instance page shows it in xterm.js (replay and live), typing into the page
// reaches the agent as INPUT, the state says when the session ended, and at phone width the
// terminal starts read-only. Screenshots land in /tmp for a person to look at.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createWebSession, SESSION_COOKIE } from '../../src/auth/web-sessions.ts'
import { deleteInstance } from '../../src/core/instance-admin.ts'
import { FrameType } from '../../src/relay/frames.ts'
import { until } from '../helpers.ts'
import { output, peer } from '../relay/helpers.ts'
import { launchBrowser, liveServer } from './browser.ts'

describe('dashboard terminal in Chromium', () => {
  let browser: Browser
  let server: Awaited<ReturnType<typeof liveServer>>
  let token: string
  beforeAll(async () => {
    ;[browser, server] = await Promise.all([launchBrowser(), liveServer('pglite')])
    token = (await createWebSession(server.parley.database.db, server.user.id)).token
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  /** What the page's Content-Security-Policy refused: the terminal must work under it, whole. */
  const cspViolations: string[] = []
  afterEach(() => expect(cspViolations.splice(0)).toEqual([]))
  /** The instance page, logged in, at this viewport. */
  const instancePage = async (
    id: string,
    viewport: { width: number; height: number },
    before?: (page: Page) => Promise<unknown>,
  ) => {
    const context: BrowserContext = await browser.newContext({ viewport })
    await context.addCookies([{ name: SESSION_COOKIE, value: token, url: server.base }])
    const page = await context.newPage()
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) cspViolations.push(m.text())
    })
    await before?.(page)
    await page.goto(`${server.base}/instances/${id}`)
    return { context, page }
  }
  const agentSocket = async (id: string) => {
    const ws = server.base.replace(/^http/, 'ws')
    const agent = peer(`${ws}/relay/agent?session_id=${id}`, {
      headers: { authorization: `Bearer ${server.user.key}` },
    })
    await agent.opened
    return agent
  }

  test('agent output appears in xterm, typing reaches the agent, and the end is shown', async () => {
    const id = crypto.randomUUID()
    const agent = await agentSocket(id)
    agent.send(output('\x1b[1mhello\x1b[0m from the agent\r\n$ '))
    const { context, page } = await instancePage(id, { width: 1280, height: 800 })
    const rows = page.locator('#terminal .xterm-rows')
    await rows.filter({ hasText: 'hello from the agent' }).waitFor({ timeout: 5000 })
    await page.locator('.terminal-state', { hasText: 'live' }).waitFor({ timeout: 5000 })
    expect(await page.getByLabel('Type into it').isChecked()).toBe(true)

    await page.locator('#terminal .terminal-screen').click()
    await page.keyboard.type('ls -la')
    await page.keyboard.press('Enter')
    await until(() => agent.text() === 'ls -la\r', 5000, 'typed input at the agent')
    // Watching did not resize the agent's terminal; typing made the page set it, once, first.
    expect(agent.frames.filter((f) => f.type === FrameType.RESIZE)).toHaveLength(1)
    expect(agent.frames[0]?.type).toBe(FrameType.RESIZE)

    agent.send(output('ls -la\r\ntotal 0\r\n$ '))
    await rows.filter({ hasText: 'total 0' }).waitFor({ timeout: 5000 })
    await page.screenshot({ path: '/tmp/parley-terminal-1280x800.png' })

    agent.socket.close()
    await page.locator('.terminal-state', { hasText: 'ended' }).waitFor({ timeout: 5000 })
    await page.getByRole('button', { name: 'Hide terminal' }).click()
    expect(await page.locator('#terminal .terminal-screen').isVisible()).toBe(false)
    await page.getByRole('button', { name: 'Show terminal' }).click()
    expect(await page.locator('#terminal .terminal-screen').isVisible()).toBe(true)
    await context.close()
  }, 30_000)

  test('at phone width the terminal replays and starts read-only', async () => {
    const id = crypto.randomUUID()
    const agent = await agentSocket(id)
    agent.send({ type: FrameType.RESIZE, rows: 20, cols: 80 })
    agent.send(output('building… 42%\r\n'))
    const { context, page } = await instancePage(id, { width: 390, height: 844 })
    await page.locator('#terminal .xterm-rows', { hasText: 'building' }).waitFor({ timeout: 5000 })
    expect(await page.getByLabel('Type into it').isChecked()).toBe(false)
    await page.locator('#terminal .terminal-screen').click()
    await page.keyboard.type('q')
    agent.send(output('done\r\n'))
    await page.locator('#terminal .xterm-rows', { hasText: 'done' }).waitFor({ timeout: 5000 })
    expect(agent.text()).toBe('')
    await page.screenshot({ path: '/tmp/parley-terminal-390x844.png', fullPage: true })
    agent.socket.close()
    await context.close()
  }, 30_000)

  test('a malformed frame closes the socket and says so instead of freezing the screen', async () => {
    const id = crypto.randomUUID()
    const agent = await agentSocket(id)
    const closes: number[] = []
    const { context, page } = await instancePage(id, { width: 1280, height: 800 }, async (p) => {
      // Between the page and the server: after the first server message, a frame of unknown type.
      await p.routeWebSocket(/\/relay\/view\//, (ws) => {
        const upstream = ws.connectToServer()
        let first = true
        upstream.onMessage((m) => {
          ws.send(m)
          if (first) ws.send(Buffer.from([9, 0, 0, 0, 0]))
          first = false
        })
        ws.onClose((code, reason) => {
          closes.push(code ?? 0)
          upstream.close({ code, reason })
        })
      })
    })
    await until(() => closes.length > 0, 5000, 'the page closes the socket')
    expect(closes[0]).toBe(1000)
    await page.locator('.terminal-state', { hasText: 'unreadable data' }).waitFor({ timeout: 5000 })
    agent.socket.close()
    await context.close()
  }, 30_000)

  test('after attempts that never connect (access taken away) the page stops and says so', async () => {
    const id = crypto.randomUUID()
    const agent = await agentSocket(id)
    const { context, page } = await instancePage(id, { width: 1280, height: 800 }, (p) => p.clock.install())
    await page.locator('.terminal-state', { hasText: 'live' }).waitFor({ timeout: 5000 })
    let attempts = 0
    page.on('websocket', () => attempts++)
    await deleteInstance(server.parley.core, server.user.id, id)
    const state = page.locator('.terminal-state')
    // Each retry waits on the page's (fake) clock; each refusal is a real handshake.
    await until(
      async () => {
        await page.clock.runFor(60_000)
        return (await state.textContent())?.includes('cannot connect') === true
      },
      20_000,
      'the page gives up',
    )
    const tried = attempts
    expect(tried).toBe(6)
    await page.clock.runFor(10 * 60_000)
    expect(attempts).toBe(tried)
    agent.socket.close()
    await context.close()
  }, 30_000)

  test('an instance that never had a terminal shows no panel', async () => {
    const id = crypto.randomUUID()
    const made = await server.agent('POST', '/api/v1/messages/agent', {
      agent_instance_id: id,
      agent_type: 'claude',
      content: 'no terminal here',
    })
    expect(made.status).toBe(200)
    const { context, page } = await instancePage(id, { width: 1280, height: 800 })
    await page.getByText('no terminal here').waitFor({ timeout: 5000 })
    expect(await page.locator('#terminal').count()).toBe(0)
    await context.close()
  }, 30_000)
})
