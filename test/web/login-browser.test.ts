// A real Chromium against a real server: logging in with the keyboard, landing where `next`
// pointed, visible focus, no sideways scrolling at phone width, htmx loaded, and logging out.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import type { makeUser } from '../helpers.ts'
import { browserApp } from './browser.ts'

describe('log-in in a real browser', () => {
  let browser: Browser
  let base: string
  let alice: Awaited<ReturnType<typeof makeUser>>
  let close = async () => {}
  beforeAll(async () => {
    ;({ browser, base, alice, close } = await browserApp())
  }, 60_000)
  afterAll(() => close())

  test('keyboard log-in lands on next, focus is visible, the page fits a phone, log-out ends it', async () => {
    const context = await browser.newContext({ viewport: { width: 360, height: 740 } })
    const page = await context.newPage()
    await page.goto(`${base}/settings`)
    expect(new URL(page.url()).pathname).toBe('/login')

    // A wrong password first: the generic error is announced.
    await page.getByLabel('Email').fill(alice.email)
    await page.getByLabel('Password').fill('wrong password')
    await page.getByLabel('Password').press('Enter')
    await page.waitForLoadState()
    expect(await page.getByRole('alert').textContent()).toContain('Email or password is incorrect.')

    await page.getByLabel('Password').fill('correct horse battery')
    await page.getByLabel('Password').press('Enter')
    await page.waitForURL(`${base}/settings`)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Settings')
    expect(await page.evaluate(() => typeof (window as unknown as { htmx?: unknown }).htmx)).toBe('object')

    // The first Tab reaches the skip link, and the focused element shows an outline.
    await page.keyboard.press('Tab')
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement
      return { text: el.textContent, outline: getComputedStyle(el).outlineStyle }
    })
    expect(focused.text).toBe('Skip to content')
    expect(focused.outline).not.toBe('none')

    // Nothing is wider than a phone screen (tables scroll inside their own box).
    const widthOf = () => page.evaluate(() => document.documentElement.scrollWidth)
    expect(await widthOf()).toBeLessThanOrEqual(360)
    await page.getByRole('button', { name: 'Link a Telegram chat' }).click()
    await page.waitForLoadState()
    expect(await widthOf()).toBeLessThanOrEqual(360)
    await page.goto(`${base}/start`)
    await page.getByRole('button', { name: 'Create a key and fill it in below' }).click()
    await page.waitForLoadState()
    expect(await widthOf()).toBeLessThanOrEqual(360)
    await page.goto(`${base}/docs`)
    expect(await widthOf()).toBeLessThanOrEqual(360)
    await page.goto(`${base}/settings`)

    // The cookie is not readable from scripts.
    expect(await page.evaluate(() => document.cookie)).not.toContain('parley_session')

    await page.getByRole('button', { name: 'Log out' }).click()
    await page.waitForURL(`${base}/login`)
    await page.goto(`${base}/settings`)
    expect(new URL(page.url()).pathname).toBe('/login')
    await context.close()
  }, 60_000)

  test('a key made with the plain form is copied by its button; htmx requests carry the CSRF header', async () => {
    const context = await browser.newContext()
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
    const page = await context.newPage()
    await page.goto(`${base}/login`)
    await page.getByLabel('Email').fill(alice.email)
    await page.getByLabel('Password').fill('correct horse battery')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(`${base}/`)
    await page.goto(`${base}/settings`)
    await page.getByLabel('Name of the new key').fill('browser key')
    await page.getByRole('button', { name: 'Create key' }).click()
    await page.waitForLoadState()
    const key = await page.getByLabel('API key', { exact: true }).inputValue()
    expect(key).toStartWith('prl_')
    await page.getByRole('button', { name: 'Copy api key' }).click()
    await page.getByText('Copied').waitFor()
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key)

    // An htmx post inherits the X-CSRF-Token header from <body>: the server accepts it.
    await page.goto(`${base}/settings`)
    const status = await page.evaluate(async () => {
      const button = document.createElement('button')
      button.id = 'htmx-made'
      button.setAttribute('hx-post', '/settings/keys')
      button.setAttribute('hx-vals', '{"name":"made by htmx"}')
      button.setAttribute('hx-swap', 'none')
      document.querySelector('main')!.append(button)
      const htmx = (window as unknown as { htmx: { process(e: Element): void } }).htmx
      htmx.process(button)
      const statuses: number[] = []
      document.body.addEventListener('htmx:after:request', (e) =>
        statuses.push((e as CustomEvent).detail.ctx.response.status),
      )
      button.click()
      while (statuses.length === 0) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 200))
      return statuses
    })
    expect(status).toEqual([201])
    await page.reload()
    expect(await page.getByRole('cell', { name: 'made by htmx', exact: true }).count()).toBe(1)
    await context.close()
  }, 60_000)
})
