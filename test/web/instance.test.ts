// The instance page and its forms over HTTP, as a browser without JavaScript uses them: replies
// post and redirect back, option answers answer the question, older pages load by cursor, the
// owner renames / completes / shares / deletes; bad input is refused with the reason and changes
// nothing; strangers get 404 and read-only viewers 403 on reply.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { postAgentMessage } from '../../src/core/messages.ts'
import { diffFiles, viewInstance } from '../../src/core/thread.ts'
import { dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'
import { BASE, postForm, type WebSessionCookies, webGet, webLogin } from './helpers.ts'

const PASSWORD = 'correct horse battery'

for (const kind of dbKinds()) {
  describe(`instance pages (${kind})`, () => {
    let t: TestApp
    let owner: Awaited<ReturnType<typeof makeUser>>
    let reader: Awaited<ReturnType<typeof makeUser>>
    let writer: Awaited<ReturnType<typeof makeUser>>
    let stranger: Awaited<ReturnType<typeof makeUser>>
    const s: Record<string, WebSessionCookies> = {}
    beforeAll(async () => {
      t = await testApp(kind)
      const mk = (label: string) => makeUser(t.database.db, label)
      ;[owner, reader, writer, stranger] = [
        await mk('owner'),
        await mk('reader'),
        await mk('writer'),
        await mk('stranger'),
      ]
      for (const [k, u] of Object.entries({ owner, reader, writer, stranger })) {
        s[k] = await webLogin(t.app, u.email, PASSWORD)
      }
    }, 60_000)
    afterAll(() => t.close())

    const say = (
      instanceId: string,
      content: string,
      extra: Partial<Parameters<typeof postAgentMessage>[1]> = {},
    ) =>
      postAgentMessage(t.core, {
        userId: owner.id,
        instanceId,
        agentType: 'claude',
        content,
        requiresUserInput: false,
        ...extra,
      })
    const messages = (id: string) =>
      t.database.query<{
        sender: string
        content: string
        channel: string | null
        answer_message_id: string | null
      }>(
        'select sender, content, channel, answer_message_id from messages where instance_id = $1 order by id',
        [id],
      )

    test('the page shows the thread, the open question with its options and the diff', async () => {
      const id = uuid()
      await say(id, 'Working on **it**', {
        gitDiff:
          'diff --git a/x.ts b/x.ts\nindex 1..2 100644\n--- a/x.ts\n+++ b/x.ts\n@@ -1 +1 @@\n-old\n+new',
      })
      await say(id, 'Which one?', { requiresUserInput: true, options: ['Left', 'Right'] })
      const page = await webGet(t.app, `/instances/${id}`, s.owner)
      expect(page.status).toBe(200)
      expect(page.text).toContain('<strong>it</strong>')
      expect(page.text).toContain('class="msg agent question open"')
      expect(page.text).toMatch(/<button type="submit" name="option" value="0">Left<\/button>/)
      expect(page.text).toContain('x.ts')
      expect(page.text).toContain('modified · +1 −1')
      expect(page.text).toContain('<label for="reply-content">Reply to the agent</label>')
    })

    test('a large diff: a summary with files folded on the page, the whole of it on the diff page', async () => {
      const id = uuid()
      const file = (i: number) =>
        [
          `diff --git a/src/f${i}.ts b/src/f${i}.ts`,
          'index 1..2 100644',
          `--- a/src/f${i}.ts`,
          `+++ b/src/f${i}.ts`,
          '@@ -1,30 +1,30 @@',
          ...Array.from({ length: 30 }, (_, n) => `-old line ${n} of file ${i}\n+new line ${n} of file ${i}`),
        ].join('\n')
      await say(id, 'Refactored everything', {
        gitDiff: Array.from({ length: 120 }, (_, i) => file(i)).join('\n'),
      })
      const page = await webGet(t.app, `/instances/${id}`, s.owner)
      expect(page.status).toBe(200)
      expect(page.text).toContain('120 files · +3600 −3600')
      // Inline: the budget's worth of lines (the first files), the first 30 files listed, a link for the rest.
      expect(page.text).toContain('new line 0 of file 0')
      expect(page.text).not.toContain('new line 0 of file 7<')
      expect(page.text).toContain('src/f29.ts')
      expect(page.text).not.toContain('src/f30.ts')
      expect(page.text).toContain(`href="/instances/${id}/diff"`)
      expect(page.text.length).toBeLessThan(120_000)
      // The changes come before the thread.
      expect(page.text.indexOf('id="diff"')).toBeLessThan(page.text.indexOf('id="thread"'))

      const diff = await webGet(t.app, `/instances/${id}/diff`, s.owner)
      expect(diff.status).toBe(200)
      expect(diff.text).toContain('Files 1–25 of 120 · page 1 of 5')
      expect(diff.text).toContain('new line 29 of file 24')
      expect(diff.text).not.toContain('src/f25.ts')
      expect(diff.text).toContain(`href="/instances/${id}/diff?page=1"`)
      const last = await webGet(t.app, `/instances/${id}/diff?page=4`, s.owner)
      expect(last.text).toContain('new line 29 of file 119')
      expect(last.text).not.toContain('Next files')
      for (const bad of ['5', '-1', 'x']) {
        const refused = await webGet(t.app, `/instances/${id}/diff?page=${bad}`, s.owner)
        expect(refused.status).toBe(422)
        expect(refused.text).toContain('page must be a page number')
      }
      expect((await webGet(t.app, `/instances/${id}/diff`, s.stranger)).status).toBe(404)
    })

    test('a diff is read from the database once: later views take it from memory; a new diff shows at once', async () => {
      const id = uuid()
      // Named after the instance: parsed diffs are kept by content, for every database of the process.
      const diffOf = (name: string) =>
        `diff --git a/${id}/${name} b/${id}/${name}\nindex 1..2 100644\n@@ -1 +1 @@\n-old\n+new`
      await say(id, 'First change', { gitDiff: diffOf('first.ts') })
      const page = await webGet(t.app, `/instances/${id}`, s.owner)
      expect(page.text).toContain(`${id}/first.ts`)
      // A database that refuses every read: what it answers came from memory.
      const refusing = new Proxy(t.core.db, {
        get: () => {
          throw new Error('the database was read')
        },
      })
      const inst = await viewInstance(t.core.db, owner.id, id)
      const files = await diffFiles(refusing, inst)
      expect(files.map((f) => f.path)).toEqual([`${id}/first.ts`])

      await say(id, 'Second change', { gitDiff: diffOf('second.ts') })
      const changed = await viewInstance(t.core.db, owner.id, id)
      expect(changed.diffKey).not.toBe(inst.diffKey)
      await expect(diffFiles(refusing, changed)).rejects.toThrow('the database was read')
      const again = await webGet(t.app, `/instances/${id}`, s.owner)
      expect(again.text).toContain(`${id}/second.ts`)
      expect(again.text).not.toContain(`${id}/first.ts`)
    })

    test('a long message is folded to its first words; a long open question is not', async () => {
      const id = uuid()
      const log = Array.from({ length: 40 }, (_, i) => `step **${i}** done`).join('\n')
      await say(id, log)
      await say(id, `${log}\nWhich one?`, { requiresUserInput: true, options: ['A', 'B'] })
      const page = await webGet(t.app, `/instances/${id}`, s.owner)
      const folds = page.text.match(/<details class="fold">/g) ?? []
      expect(folds).toHaveLength(1)
      expect(page.text).toContain('<span class="fold-preview">step 0 done step 1 done')
      expect(page.text).toContain('Show all 40 lines')
      // Folded, not cut: the whole message is on the page.
      expect(page.text).toContain('step <strong>39</strong> done')
    })

    test('an option answer without JavaScript answers the question and redirects back', async () => {
      const id = uuid()
      const q = await say(id, 'Ship? [YES/NO]', { requiresUserInput: true })
      const res = await postForm(
        t.app,
        `/instances/${id}/reply`,
        { option: '0', question_id: q.messageId },
        s.owner,
      )
      expect(res.status).toBe(303)
      expect(res.location).toBe(`/instances/${id}?done=replied#latest`)
      const rows = await messages(id)
      expect(rows.map((r) => [r.sender, r.content, r.channel])).toEqual([
        ['AGENT', 'Ship? [YES/NO]', null],
        ['USER', 'Yes', 'web'],
      ])
      expect(rows[0]!.answer_message_id).not.toBeNull()
      const after = await webGet(t.app, res.location!, s.owner)
      expect(after.text).toMatch(/Answered by owner via the dashboard · [\d-]+ [\d:]+ UTC/)
      expect(after.text).not.toContain('>Yes</button>')
      // web replies do not move the agent's read cursor (markAsRead false): the agent still gets it.
      const [inst] = await t.database.query<{ last_read_message_id: string }>(
        'select last_read_message_id from agent_instances where id = $1',
        [id],
      )
      expect(inst!.last_read_message_id).toBe(q.messageId)
    })

    test('a button on a question answered elsewhere writes nothing and says who answered (amber)', async () => {
      const id = uuid()
      const q = await say(id, 'Ship? [YES/NO]', { requiresUserInput: true })
      // Another tab (the writer's) answers first.
      await t.database.query(
        `insert into instance_access (instance_id, user_id, access) values ($1, $2, 'WRITE')`,
        [id, writer.id],
      )
      const first = await postForm(
        t.app,
        `/instances/${id}/reply`,
        { option: '1', question_id: q.messageId },
        s.writer,
      )
      expect(first.status).toBe(303)
      const stale = { option: '0', question_id: q.messageId }
      const late = await postForm(t.app, `/instances/${id}/reply`, stale, s.owner)
      expect(late.status).toBe(409)
      expect(late.text).toMatch(
        /<p class="warning" role="status">Already answered by writer via the dashboard · [^<]+ UTC\. Your choice was not sent\.<\/p>/,
      )
      const htmx = await postForm(t.app, `/instances/${id}/reply`, stale, s.owner, {
        headers: { 'hx-request': 'true' },
      })
      expect(htmx.status).toBe(409)
      expect(htmx.text).toStartWith(
        '<div id="answer-notice" aria-live="polite"><p class="warning" role="status">Already',
      )
      // Nothing reached the agent but the first answer.
      expect((await messages(id)).map((r) => [r.sender, r.content])).toEqual([
        ['AGENT', 'Ship? [YES/NO]'],
        ['USER', 'No'],
      ])
      // A typed reply is still kept as a message, as before.
      const typed = await postForm(t.app, `/instances/${id}/reply`, { content: 'and another thing' }, s.owner)
      expect(typed.status).toBe(303)
      expect((await messages(id)).at(-1)!.content).toBe('and another thing')
    })

    test('bad input is refused with the reason and changes nothing', async () => {
      const id = uuid()
      await say(id, 'hello')
      const before = (await messages(id)).length
      const empty = await postForm(t.app, `/instances/${id}/reply`, { content: '   ' }, s.owner)
      expect(empty.status).toBe(422)
      expect(empty.text).toContain('Reply must not be empty')
      const badQuestion = await postForm(
        t.app,
        `/instances/${id}/reply`,
        { content: 'x', question_id: 'nope' },
        s.owner,
      )
      expect(badQuestion.status).toBe(422)
      expect(badQuestion.text).toContain('question_id must be a message id')
      const badAccess = await postForm(
        t.app,
        `/instances/${id}/share`,
        { email: reader.email, access: 'ADMIN' },
        s.owner,
      )
      expect(badAccess.status).toBe(422)
      expect(badAccess.text).toContain('access must be READ or WRITE')
      const unknownUser = await postForm(
        t.app,
        `/instances/${id}/share`,
        { email: 'nobody@example.com', access: 'READ' },
        s.owner,
      )
      expect(unknownUser.status).toBe(422)
      const noName = await postForm(t.app, `/instances/${id}/rename`, { name: '' }, s.owner)
      expect(noName.status).toBe(422)
      expect(noName.text).toContain('name is required')
      const badId = await webGet(t.app, '/instances/not-a-uuid', s.owner)
      expect(badId.status).toBe(422)
      expect(badId.text).toContain('Instance id must be a UUID')
      const noCsrf = await postForm(t.app, `/instances/${id}/reply`, { content: 'sneaky' }, s.owner, {
        csrf: false,
      })
      expect(noCsrf.status).toBe(403)
      expect(await messages(id)).toHaveLength(before)
      const [row] = await t.database.query<{ name: string | null }>(
        'select name from agent_instances where id = $1',
        [id],
      )
      expect(row!.name).toBeNull()
      const shares = await t.database.query('select 1 from instance_access where instance_id = $1', [id])
      expect(shares).toHaveLength(0)
    })

    test("other people's instances are 404 everywhere; READ viewers read but get 403 on reply", async () => {
      const id = uuid()
      await say(id, 'private')
      for (const path of [
        `/instances/${id}`,
        `/instances/${id}/messages?before=${id}`,
        `/events/instances/${id}`,
      ]) {
        expect((await webGet(t.app, path, s.stranger)).status).toBe(404)
      }
      expect((await postForm(t.app, `/instances/${id}/reply`, { content: 'hi' }, s.stranger)).status).toBe(
        404,
      )
      expect((await postForm(t.app, `/instances/${id}/delete`, {}, s.stranger)).status).toBe(404)
      expect((await webGet(t.app, `/instances/${uuid()}`, s.owner)).status).toBe(404)

      expect(
        (await postForm(t.app, `/instances/${id}/share`, { email: reader.email, access: 'READ' }, s.owner))
          .status,
      ).toBe(303)
      expect(
        (await postForm(t.app, `/instances/${id}/share`, { email: writer.email, access: 'write' }, s.owner))
          .status,
      ).toBe(303)
      const readView = await webGet(t.app, `/instances/${id}`, s.reader)
      expect(readView.status).toBe(200)
      expect(readView.text).toContain('private')
      expect(readView.text).toContain('read-only')
      expect(readView.text).not.toContain('Manage this instance')
      const refused = await postForm(t.app, `/instances/${id}/reply`, { content: 'let me in' }, s.reader)
      expect(refused.status).toBe(403)
      expect((await postForm(t.app, `/instances/${id}/rename`, { name: 'mine now' }, s.writer)).status).toBe(
        403,
      )
      const written = await postForm(
        t.app,
        `/instances/${id}/reply`,
        { content: 'from the writer' },
        s.writer,
      )
      expect(written.status).toBe(303)
      expect((await messages(id)).map((r) => r.content)).toEqual(['private', 'from the writer'])
      const inbox = await webGet(t.app, '/', s.reader)
      expect(inbox.text).toContain(`/instances/${id}`)
      expect(inbox.text).toContain('shared · read only')
    })

    test('owner renames, completes and deletes; a deleted instance is gone', async () => {
      const id = uuid()
      await say(id, 'task')
      expect(
        (await postForm(t.app, `/instances/${id}/rename`, { name: 'Nightly build' }, s.owner)).status,
      ).toBe(303)
      expect((await postForm(t.app, `/instances/${id}/complete`, {}, s.owner)).status).toBe(303)
      const page = await webGet(t.app, `/instances/${id}`, s.owner)
      expect(page.text).toContain('<h1>Nightly build</h1>')
      expect(page.text).toContain('Completed')
      const del = await postForm(t.app, `/instances/${id}/delete`, {}, s.owner)
      expect(del.status).toBe(303)
      expect(del.location).toBe('/')
      expect((await webGet(t.app, `/instances/${id}`, s.owner)).status).toBe(404)
      expect((await webGet(t.app, '/', s.owner)).text).not.toContain(id)
      const [row] = await t.database.query<{ status: string }>(
        'select status from agent_instances where id = $1',
        [id],
      )
      expect(row!.status).toBe('DELETED')
    })

    test('older messages load by cursor, oldest page last', async () => {
      const id = uuid()
      for (let i = 1; i <= 55; i++) await say(id, `step ${i}`)
      const page = await webGet(t.app, `/instances/${id}`, s.owner)
      expect(page.text).toContain('step 55')
      expect(page.text).toContain('step 6<')
      expect(page.text).not.toContain('step 5<')
      const before = page.text.match(/messages\?before=([0-9a-f-]+)/)![1]!
      const older = await webGet(t.app, `/instances/${id}/messages?before=${before}`, s.owner, {
        'hx-request': 'true',
      })
      expect(older.status).toBe(200)
      expect(older.text).toContain('step 1<')
      expect(older.text).toContain('step 5<')
      expect(older.text).not.toContain('step 6<')
      expect(older.text).toContain('Start of the conversation')
      expect((await webGet(t.app, `/instances/${id}/messages?before=x`, s.owner)).status).toBe(422)
    })

    test('the live stream appends new messages, refreshes the header, and re-renders the diff only when it changed', async () => {
      const id = uuid()
      const first = await say(id, 'first')
      const controller = new AbortController()
      const res = await t.app.handle(
        new Request(`${BASE}/events/instances/${id}?after=${first.messageId}`, {
          headers: { cookie: s.owner!.cookie },
          signal: controller.signal,
        }),
      )
      expect(res.headers.get('content-type')).toContain('text/event-stream')
      const reader = res.body!.getReader()
      await reader.read() // connected
      await say(id, 'Now with **changes**', {
        gitDiff:
          'diff --git a/live.ts b/live.ts\nindex 1..2 100644\n--- a/live.ts\n+++ b/live.ts\n@@ -1 +1 @@\n-a\n+b',
        requiresUserInput: true,
        options: ['OK'],
      })
      let text = ''
      while (!text.includes('live.ts') || !text.includes('Needs input')) {
        text += new TextDecoder().decode((await reader.read()).value)
      }
      expect(text).toContain('data: <hx-partial hx-target="#thread" hx-swap="beforeend">')
      expect(text).toContain('<strong>changes</strong>')
      expect(text).toContain('name="option" value="0">OK</button>')
      expect(text).toContain('hx-target="#diff" hx-swap="outerHTML"')
      expect(text).toContain('hx-target="#instance-head" hx-swap="outerHTML"')
      expect(text).not.toContain('>first<') // the page already had it

      // Agents send the same diff again with their next messages: the page keeps the one it has.
      await say(id, 'Same diff again', {
        gitDiff:
          'diff --git a/live.ts b/live.ts\nindex 1..2 100644\n--- a/live.ts\n+++ b/live.ts\n@@ -1 +1 @@\n-a\n+b',
      })
      let next = ''
      while (
        !next.includes('Same diff again') ||
        !next.slice(next.indexOf('Same diff again')).includes('#instance-head')
      ) {
        next += new TextDecoder().decode((await reader.read()).value)
      }
      controller.abort()
      expect(next).not.toContain('hx-target="#diff"')
    })
  })
}
