// The inbox page over HTTP: rows for own instances with status, presence, preview and unread;
// server-side search and filters from the query string; bad filters refused with the reason;
// "Older" links that page by cursor; the live stream renders the first page for this viewer.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { INBOX_PAGE_SIZE } from '../../src/core/inbox.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'
import { BASE, type WebSessionCookies, webGet, webLogin } from './helpers.ts'

for (const kind of dbKinds()) {
  describe(`inbox page (${kind})`, () => {
    let t: TestApp
    let user: Awaited<ReturnType<typeof makeUser>>
    let session: WebSessionCookies
    const ids: string[] = []
    beforeAll(async () => {
      t = await testApp(kind)
      user = await makeUser(t.database.db, 'inbox')
      session = await webLogin(t.app, user.email, 'correct horse battery')
      for (let i = 0; i < INBOX_PAGE_SIZE + 2; i++) {
        const id = uuid()
        ids.push(id)
        await postAgentMessage(t.core, {
          userId: user.id,
          instanceId: id,
          agentType: i % 2 ? 'codex' : 'claude',
          content: i === 0 ? 'Need a decision <b>now</b>' : `progress ${i}`,
          requiresUserInput: i === 0,
        })
      }
    }, 60_000)
    afterAll(() => t.close())

    test('rows show type, status, presence, escaped preview and unread; waiting first', async () => {
      const page = await webGet(t.app, '/', session)
      expect(page.status).toBe(200)
      const first = page.text.indexOf('<li id="row-')
      expect(page.text.slice(first, first + 60)).toContain(ids[0]!)
      expect(page.text).toContain('Needs input')
      expect(page.text).toContain('online')
      expect(page.text).toContain('Need a decision &lt;b&gt;now&lt;/b&gt;')
      expect(page.text).toContain('1 unread')
      expect(page.text).toContain('hx-sse:connect="/events/inbox"')
      expect(page.text.match(/<li id="row-/g)).toHaveLength(INBOX_PAGE_SIZE)
    })

    test('search, filters and the older page come from the server', async () => {
      const search = await webGet(t.app, '/?q=decision', session)
      expect(search.text.match(/<li id="row-/g)).toHaveLength(1)
      expect(search.text).toContain('hx-sse:connect="/events/inbox?q=decision"')
      const codex = await webGet(t.app, '/?type=codex&status=ACTIVE', session)
      expect(codex.text.match(/<li id="row-/g)).toHaveLength((INBOX_PAGE_SIZE + 2) / 2)
      const bad = await webGet(t.app, '/?status=ASLEEP', session)
      expect(bad.status).toBe(422)
      expect(bad.text).toContain('status must be one of')
      const badCursor = await webGet(t.app, '/?cursor=%7B', session)
      expect(badCursor.status).toBe(422)
      const older = (await webGet(t.app, '/', session)).text.match(/href="\/\?cursor=([^"]+)"/)![1]!
      const page2 = await webGet(t.app, `/?cursor=${older}`, session)
      expect(page2.text.match(/<li id="row-/g)).toHaveLength(2)
      expect(page2.text).not.toContain('hx-sse:connect') // only the first page is live
    })

    test('the live stream sends the re-rendered first page when an instance changes', async () => {
      const controller = new AbortController()
      const res = await t.app.handle(
        new Request(`${BASE}/events/inbox?type=claude`, {
          headers: { cookie: session.cookie },
          signal: controller.signal,
        }),
      )
      expect(res.headers.get('content-type')).toContain('text/event-stream')
      const reader = res.body!.getReader()
      await reader.read() // connected
      await postAgentMessage(t.core, {
        userId: user.id,
        instanceId: ids[2]!,
        content: 'fresh <i>news</i>',
        requiresUserInput: false,
      })
      let text = ''
      while (!text.includes('fresh')) text += new TextDecoder().decode((await reader.read()).value)
      controller.abort()
      expect(text).toContain('data: <hx-partial hx-target="#inbox-rows" hx-swap="innerMorph">')
      expect(text).toContain('fresh &lt;i&gt;news&lt;/i&gt;')
      expect(text).not.toContain('progress 1<') // codex rows are filtered out
    })
  })
}
