// The inbox page over HTTP: rows for own instances with status, presence, preview and unread;
// server-side search and filters from the query string; bad filters refused with the reason;
// "Older" links that page by cursor; the live stream renders the first page for this viewer.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { INBOX_PAGE_SIZE } from '../../src/core/inbox.ts'
import { endSession } from '../../src/core/instances.ts'
import { postAgentMessage } from '../../src/core/messages.ts'
import { viewInstance } from '../../src/core/thread.ts'
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
          content:
            i === 0
              ? 'Need a decision <b>now</b>'
              : i === INBOX_PAGE_SIZE + 1
                ? 'Plan: **2 to destroy**, see [docs](https://x.test)'
                : `progress ${i}`,
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
      const words = page.text.replace(/<[^>]+>/g, '')
      expect(words).toContain('1 unread')
      // Previews are plain text: Markdown marks and link targets are gone.
      expect(words).toContain('Plan: 2 to destroy, see docs')
      expect(page.text).not.toContain('x.test')
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

    test('an ended session is not shown online, even just after its last heartbeat', async () => {
      const id = uuid()
      await postAgentMessage(t.core, {
        userId: user.id,
        instanceId: id,
        agentType: 'claude',
        content: 'done soon',
        requiresUserInput: false,
      })
      const row = async () => {
        const text = (await webGet(t.app, '/?q=done+soon', session)).text
        return text.slice(
          text.indexOf(`id="row-${id}"`),
          text.indexOf('</li>', text.indexOf(`id="row-${id}"`)),
        )
      }
      expect(await row()).toContain('presence dot on')
      await endSession(t.core, user.id, id)
      const ended = await row()
      expect(ended).toContain('Completed')
      expect(ended).not.toContain('presence')
      expect((await viewInstance(t.core.db, user.id, id)).present).toBe(false)
    })

    test('an account with no agents sees how to connect one instead of filters', async () => {
      const newcomer = await makeUser(t.database.db, 'newcomer')
      const page = await webGet(t.app, '/', await webLogin(t.app, newcomer.email, 'correct horse battery'))
      expect(page.text).toContain('Connect your first agent')
      expect(page.text).toContain('parley hook install')
      expect(page.text).not.toContain('id="f-status"')
      // The list is still there, live, for the first agent to appear in.
      expect(page.text).toContain('hx-sse:connect="/events/inbox"')
      // Someone with agents sees the filters, and no onboarding.
      const full = await webGet(t.app, '/', session)
      expect(full.text).toContain('id="f-status"')
      expect(full.text).not.toContain('Connect your first agent')
    })
  })
}
