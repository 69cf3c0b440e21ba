// Browser fixtures: the system Chromium driven by playwright-core (never a downloaded browser),
// and a real Parley server on a free port with a user who has an API key.
import { type Browser, type BrowserContext, chromium } from 'playwright-core'
import { loadConfig } from '../../src/config.ts'
import { startParley } from '../../src/main.ts'
import { type DbKind, freshDatabase, makeUser, type TestApp, testApp } from '../helpers.ts'

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
]

export const launchBrowser = (): Promise<Browser> =>
  chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })

export const PASSWORD = 'correct horse battery'

export async function liveServer(kind: DbKind) {
  const db = await freshDatabase(kind)
  const parley = await startParley(loadConfig({ PORT: '0' }), { database: db.database, quiet: true })
  const base = `http://127.0.0.1:${parley.port}`
  const user = await makeUser(db.database.db, 'browser')
  /** JSON over HTTP as the user's agent. */
  const agent = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    // biome-ignore lint/suspicious/noExplicitAny: asserted field by field
    return { status: res.status, json: (await res.json()) as any }
  }
  return {
    base,
    user,
    agent,
    parley,
    close: async () => {
      await parley.stop()
      await db.drop()
    },
  }
}

/** Parley (PGlite) listening on a free port, a user of it, and a Chromium to drive against it. */
export async function browserApp(): Promise<{
  t: TestApp
  base: string
  browser: Browser
  alice: Awaited<ReturnType<typeof makeUser>>
  close(): Promise<void>
}> {
  const t = await testApp('pglite')
  const alice = await makeUser(t.database.db, 'alice')
  t.app.listen({ port: 0, hostname: '127.0.0.1' })
  const browser = await launchBrowser()
  return {
    t,
    base: `http://127.0.0.1:${t.app.server!.port}`,
    browser,
    alice,
    close: async () => {
      await browser.close()
      await t.app.server?.stop(true)
      await t.close()
    },
  }
}

/** Logs the server's user in through the /login form; returns the storage state for new contexts. */
export async function loggedInState(
  browser: Browser,
  server: { base: string; user: { email: string } },
): Promise<Awaited<ReturnType<BrowserContext['storageState']>>> {
  const login = await browser.newContext()
  const first = await login.newPage()
  await first.goto(`${server.base}/login`)
  await first.getByLabel('Email').fill(server.user.email)
  await first.getByLabel('Password').fill(PASSWORD)
  await first.getByRole('button', { name: /log in/i }).click()
  await first.waitForURL(`${server.base}/`)
  const state = await login.storageState()
  await login.close()
  return state
}
