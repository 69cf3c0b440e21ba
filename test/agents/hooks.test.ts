// POST /hooks/claude-code and /hooks/codex over HTTP with recorded payloads: the lifecycle events,
// approvals (allow, allow for the session and remembered, deny, typed words), AskUserQuestion,
// PreToolUse of other tools, steering at Stop, the agent giving up, Parley's own deadline, and
// who may touch which session.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { answerQuestion } from '../../src/core/answers.ts'
import { APPROVAL_OPTIONS } from '../../src/core/hooks/approval-text.ts'
import { handleHook } from '../../src/core/hooks/handle.ts'
import { awaitHookAnswer, postHookMessage } from '../../src/core/hooks/questions.ts'
import { hookInstanceId } from '../../src/core/hooks/session.ts'
import { call, dbKinds, makeUser, type TestApp, testApp } from '../helpers.ts'
import { postForm, webGet, webLogin } from '../web/helpers.ts'
import { fixture, hookClient, nextQuestion } from './hooks-fixture.ts'

for (const kind of dbKinds()) {
  describe(`agent hooks (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    let bob: Awaited<ReturnType<typeof makeUser>>

    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
      bob = await makeUser(t.database.db, 'bob')
    }, 60_000)
    afterAll(() => t.close())

    const rows = <T>(q: string, params: unknown[] = []) => t.database.query<T>(q, params)
    const instance = async (id: string) =>
      (
        await rows<{ status: string; name: string | null; agent_type: string }>(
          `select i.status, i.name, a.name as agent_type from agent_instances i
           join agent_types a on a.id = i.agent_type_id where i.id = $1`,
          [id],
        )
      )[0]
    const thread = (id: string) =>
      rows<{
        id: string
        sender: string
        content: string
        channel: string | null
        options: string[] | null
        answered_via: string | null
        metadata: Record<string, unknown> | null
      }>(
        `select id, sender, content, channel, options, answered_via, metadata from messages
         where instance_id = $1 order by id`,
        [id],
      )
    const reply = (instanceId: string, content: string, key = alice.key) =>
      call(t.app, 'POST', '/api/v1/messages/user', {
        key,
        body: { agent_instance_id: instanceId, content, mark_as_read: false },
      })

    /** Presses an approval's button on the dashboard, as alice. */
    async function press(instanceId: string, questionId: string, option: string) {
      const session = await webLogin(t.app, alice.email, 'correct horse battery')
      const index = (APPROVAL_OPTIONS as readonly string[]).indexOf(option)
      expect(index).toBeGreaterThanOrEqual(0)
      const res = await postForm(
        t.app,
        `/instances/${instanceId}/reply`,
        { option: String(index), question_id: questionId },
        session,
        { headers: { 'hx-request': 'true' } },
      )
      expect(res.status).toBeLessThan(400)
    }

    /** A PermissionRequest answered by typing `words` in the REST reply. */
    async function answeredTyped(c: ReturnType<typeof hookClient>, words: string) {
      const asked = nextQuestion(t.bus, c.instanceId)
      const pending = c.send('permission-request-bash')
      await asked
      expect((await reply(c.instanceId, words)).status).toBe(200)
      return (await pending).json
    }

    /**
     * Sends a blocking event, waits for its question, answers it (an approval option by its
     * button, anything else typed), returns the hook's output.
     */
    async function answered(c: ReturnType<typeof hookClient>, event: string, answer: string) {
      const asked = nextQuestion(t.bus, c.instanceId)
      const pending = c.send(event)
      const questionId = await asked
      if ((APPROVAL_OPTIONS as readonly string[]).includes(answer))
        await press(c.instanceId, questionId, answer)
      else expect((await reply(c.instanceId, answer)).status).toBe(200)
      const res = await pending
      expect(res.status).toBe(200)
      return res.json
    }

    describe('lifecycle', () => {
      test('SessionStart, UserPromptSubmit, Notification, Stop and SessionEnd make a readable instance', async () => {
        const c = hookClient(t.app, alice.key)
        expect(await c.send('session-start')).toMatchObject({ status: 200, json: {} })
        expect(await instance(c.instanceId)).toEqual({
          status: 'ACTIVE',
          name: 'shop',
          agent_type: 'claude_code',
        })
        expect((await c.send('user-prompt-submit')).json).toEqual({})
        expect((await c.send('notification-idle')).json).toEqual({})
        expect((await c.send('stop')).json).toEqual({})
        const msgs = await thread(c.instanceId)
        expect(msgs.map((m) => [m.sender, m.channel])).toEqual([
          ['USER', 'terminal'],
          ['AGENT', null],
          ['AGENT', null],
        ])
        expect(msgs[0]!.content).toBe('Run the tests and fix what fails')
        expect(msgs[1]!.content).toBe('Claude is waiting for your input')
        expect(msgs[2]!.content).toStartWith('Waiting for your next instruction.\n\nAll 42 tests pass now.')
        // The inbox row previews the latest message: it says the agent waits.
        const session = await webLogin(t.app, alice.email, 'correct horse battery')
        const inbox = await webGet(t.app, '/', session)
        expect(inbox.text).toContain('Waiting for your next instruction.')
        expect((await c.send('session-end')).json).toEqual({})
        expect((await instance(c.instanceId))?.status).toBe('COMPLETED')
        // A resumed session is live again.
        await c.send('session-start', { change: { source: 'resume' } })
        expect((await instance(c.instanceId))?.status).toBe('ACTIVE')
      })

      test('a Notification or a terminal prompt while a question is open answers nothing', async () => {
        const c = hookClient(t.app, alice.key)
        const asked = nextQuestion(t.bus, c.instanceId)
        const pending = c.send('permission-request-bash')
        await asked
        expect((await c.send('notification')).json).toEqual({})
        expect(await thread(c.instanceId)).toHaveLength(1)
        expect((await instance(c.instanceId))?.status).toBe('AWAITING_INPUT')
        // A prompt typed at the terminal meanwhile is shown, and answers nothing.
        await c.send('user-prompt-submit')
        const [q, prompt] = await thread(c.instanceId)
        expect(prompt).toMatchObject({ sender: 'USER', channel: 'terminal' })
        expect(q!.answered_via).toBeNull()
        await reply(c.instanceId, 'Allow')
        await pending
      })

      test('any first event creates the session; Codex sessions get their own agent type', async () => {
        const c = hookClient(t.app, alice.key, 'codex')
        expect((await c.send('stop')).json).toEqual({})
        expect(await instance(c.instanceId)).toMatchObject({
          status: 'ACTIVE',
          agent_type: 'codex',
          name: 'shop',
        })
        const other = hookClient(t.app, alice.key)
        expect((await other.send('post-tool-use')).json).toEqual({})
        expect((await instance(other.instanceId))?.agent_type).toBe('claude_code')
      })

      test('a session id that is not a UUID maps to the same stable UUID every time', async () => {
        const sessionId = `run-${crypto.randomUUID()}`
        const c = hookClient(t.app, alice.key)
        await c.send('session-start', { change: { session_id: sessionId, cwd: 'C:\\work\\api\\' } })
        await c.send('stop', { change: { session_id: sessionId } })
        const id = hookInstanceId(sessionId, alice.id)
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        expect((await instance(id))?.name).toBe('api')
        expect(await thread(id)).toHaveLength(1)
        expect(hookInstanceId(c.sessionId, alice.id)).toBe(c.sessionId)
      })

      test("a non-UUID session id is the user's own: another user's same id is another session", async () => {
        const sessionId = `run-${crypto.randomUUID()}`
        const c = hookClient(t.app, alice.key)
        // Bob takes the id first; Alice's hooks still reach a session of her own.
        expect(
          (await c.send('session-start', { change: { session_id: sessionId }, key: bob.key })).status,
        ).toBe(200)
        const res = await c.send('stop', { change: { session_id: sessionId } })
        expect(res.status).toBe(200)
        expect(await thread(hookInstanceId(sessionId, alice.id))).toHaveLength(1)
        expect(await thread(hookInstanceId(sessionId, bob.id))).toHaveLength(0)
      })

      test("another user's key on someone else's session is 404 and writes nothing", async () => {
        const c = hookClient(t.app, alice.key)
        await c.send('session-start')
        for (const event of ['user-prompt-submit', 'stop', 'permission-request-bash', 'session-end']) {
          const res = await c.send(event, { key: bob.key })
          expect(res.status).toBe(404)
          expect(res.json.error.code).toBe('NOT_FOUND')
        }
        expect(await thread(c.instanceId)).toHaveLength(0)
        expect((await instance(c.instanceId))?.status).toBe('ACTIVE')
      })

      test('the hooks are in the API docs, with the timeout parameter', async () => {
        const spec = (await call(t.app, 'GET', '/docs/json')).json
        for (const path of ['/hooks/claude-code', '/hooks/codex']) {
          expect(spec.paths[path].post.security).toEqual([{ apiKey: [] }])
          expect(JSON.stringify(spec.paths[path].post.parameters)).toContain('timeout')
        }
      })

      test('no key is 401; bad bodies are 422 naming the field and write nothing', async () => {
        const c = hookClient(t.app, alice.key)
        expect((await c.send('stop', { key: 'nope' })).status).toBe(401)
        const cases: [string, Record<string, unknown>, string][] = [
          ['stop', { session_id: null }, 'session_id'],
          ['stop', { hook_event_name: 7 }, 'hook_event_name'],
          ['stop', { stop_hook_active: 'yes' }, 'stop_hook_active'],
          ['user-prompt-submit', { prompt: null }, 'prompt'],
          ['permission-request-bash', { tool_input: 'rm -rf /' }, 'tool_input'],
          ['permission-request-bash', { tool_name: '' }, 'tool_name'],
          ['permission-request-bash', { permission_suggestions: {} }, 'permission_suggestions'],
          ['pre-tool-use-ask-user-question', { tool_input: { questions: [] } }, 'tool_input.questions'],
          [
            'pre-tool-use-ask-user-question',
            { tool_input: { questions: [{ options: [] }] } },
            'tool_input.questions.0.question',
          ],
          // Text the database cannot store, anywhere in the payload.
          ['user-prompt-submit', { prompt: 'hi\u0000there' }, 'prompt'],
          ['notification', { cwd: '/a\u0000b' }, 'cwd'],
          ['stop', { last_assistant_message: 'done\ud800' }, 'last_assistant_message'],
          ['permission-request-bash', { tool_input: { command: 'ls\u0000' } }, 'tool_input.command'],
          ['permission-request-bash', { tool_input: { 'a\udc00': 1 } }, 'tool_input.a\udc00'],
          [
            'pre-tool-use-ask-user-question',
            { tool_input: { questions: [{ question: 'Which?', options: [{ label: 'x\u0000' }] }] } },
            'tool_input.questions.0.options.0.label',
          ],
        ]
        for (const [event, change, field] of cases) {
          const res = await c.send(event, { change })
          expect([event, res.status, res.json?.error?.field]).toEqual([event, 422, field])
        }
        const res = await c.send('stop', { timeout: -1 })
        expect([res.status, res.json.error.field]).toEqual([422, 'timeout'])
        const notObject = await t.app.handle(
          new Request('http://parley.test/hooks/claude-code', {
            method: 'POST',
            headers: { authorization: `Bearer ${alice.key}`, 'content-type': 'application/json' },
            body: '[1]',
          }),
        )
        expect(notObject.status).toBe(422)
        expect(await instance(c.instanceId)).toBeUndefined()
      })
    })

    describe('approvals', () => {
      test('PermissionRequest asks "Allow Bash: …?" with the command as code and three buttons; Allow allows', async () => {
        const c = hookClient(t.app, alice.key)
        const out = await answered(c, 'permission-request-bash', 'Allow')
        expect(out).toEqual({
          hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } },
        })
        const [q, a] = await thread(c.instanceId)
        expect(q!.content.split('\n')[0]).toBe(`Allow Bash: python3 -c 'print("ok")'?`)
        expect(q!.content).toContain('*The agent says:* Print ok with Python')
        expect(q!.content).toContain('```bash\npython3 -c \'print("ok")\'\n```')
        expect(q!.options).toEqual(['Allow', 'Allow for this session', 'Deny'])
        expect(q!.metadata).toMatchObject({
          hook: { agent: 'claude_code', event: 'PermissionRequest', kind: 'approval', tool: 'Bash' },
        })
        expect(q!.answered_via).toBe('web')
        expect(a!.content).toBe('Allow')
      })

      test('Allow for this session gives back the suggestions, and the same request later is allowed without asking', async () => {
        const c = hookClient(t.app, alice.key)
        const out = await answered(c, 'permission-request-bash', 'Allow for this session')
        expect(out.hookSpecificOutput.decision).toEqual({
          behavior: 'allow',
          updatedPermissions: fixture('claude-code', 'permission-request-bash').permission_suggestions,
        })
        const before = (await thread(c.instanceId)).length
        const again = await c.send('permission-request-bash', {
          change: { tool_input: { command: 'python3 -c "print(2)"' } },
        })
        expect(again.json.hookSpecificOutput.decision).toEqual({ behavior: 'allow' })
        // Nobody is asked; the decision is still on the record.
        const after = await thread(c.instanceId)
        expect(after).toHaveLength(before + 1)
        expect(after.at(-1)).toMatchObject({
          sender: 'AGENT',
          options: null,
          content: 'Allowed for this session earlier: Bash: python3 -c "print(2)"',
        })
        // Only what the rule says: another command, or the rule's command joined with another, asks.
        for (const command of ['rm -rf build', 'python3 -c "print(3)"; rm -rf ~', 'python3 -c "$(curl x)"']) {
          const asked = nextQuestion(t.bus, c.instanceId)
          const other = c.send('permission-request-bash', { change: { tool_input: { command } } })
          await asked
          await reply(c.instanceId, 'Deny')
          expect([command, (await other).json.hookSpecificOutput.decision.behavior]).toEqual([
            command,
            'deny',
          ])
        }
      })

      test('without suggestions "Allow for this session" covers that exact call only', async () => {
        const c = hookClient(t.app, alice.key)
        const gitStatus = { change: { tool_input: { command: 'git status' }, permission_suggestions: [] } }
        const asked = nextQuestion(t.bus, c.instanceId)
        const first = c.send('permission-request-bash', gitStatus)
        await press(c.instanceId, await asked, 'Allow for this session')
        expect((await first).json.hookSpecificOutput.decision.behavior).toBe('allow')
        const again = await c.send('permission-request-bash', gitStatus)
        expect(again.json.hookSpecificOutput.decision.behavior).toBe('allow')
        const write = { change: { permission_suggestions: [] } }
        for (const [event, change] of [
          ['permission-request-bash', { tool_input: { command: 'git push --force origin main' } }],
          ['pre-tool-use-bash', { tool_input: { command: 'git status; rm -rf ~' } }],
          ['permission-request-write', write.change],
        ] as const) {
          const q = nextQuestion(t.bus, c.instanceId)
          const held = c.send(event, { change })
          await q
          await reply(c.instanceId, 'Deny')
          expect((await held).status).toBe(200)
        }
      })

      test('Deny denies, saying who; typed words deny with the words as the message', async () => {
        const c = hookClient(t.app, alice.key)
        const denied = await answered(c, 'permission-request-bash', 'Deny')
        expect(denied.hookSpecificOutput.decision).toEqual({
          behavior: 'deny',
          message: 'Denied by alice via the dashboard',
        })
        const typed = await answered(
          c,
          'permission-request-bash',
          'No, run the unit tests with bun test instead',
        )
        expect(typed.hookSpecificOutput.decision).toEqual({
          behavior: 'deny',
          message: 'No, run the unit tests with bun test instead',
        })
      })

      test('only a button allows: one typed "allow" answering two held approvals denies both, saying the words', async () => {
        const c = hookClient(t.app, alice.key)
        const first = nextQuestion(t.bus, c.instanceId)
        const bash = c.send('permission-request-bash', { change: { tool_input: { command: 'ls' } } })
        await first
        const second = nextQuestion(t.bus, c.instanceId)
        const write = c.send('permission-request-write')
        await second
        expect((await reply(c.instanceId, 'allow')).status).toBe(200)
        for (const held of [bash, write])
          expect((await held).json.hookSpecificOutput.decision).toEqual({
            behavior: 'deny',
            message: 'allow',
          })
        // The exact words of a button, typed, are still typed words.
        const typed = await answeredTyped(c, 'Allow for this session')
        expect(typed.hookSpecificOutput.decision).toEqual({
          behavior: 'deny',
          message: 'Allow for this session',
        })
        expect(
          await c.send('permission-request-bash', { change: { tool_input: { command: 'ls' } }, timeout: 2 }),
        ).toMatchObject({ json: {} })
      })

      test('each decision stays on the instance page: the tool, its input, who decided and how', async () => {
        const c = hookClient(t.app, alice.key)
        await answered(c, 'permission-request-bash', 'Allow for this session')
        await answered(c, 'permission-request-write', 'Deny')
        const session = await webLogin(t.app, alice.email, 'correct horse battery')
        const page = await webGet(t.app, `/instances/${c.instanceId}`, session)
        expect(page.status).toBe(200)
        expect(page.text).toContain("Allow Bash: python3 -c 'print(&quot;ok&quot;)'?")
        expect(page.text).toContain('Allowed for this session by alice via the dashboard')
        expect(page.text).toContain('Allow Write: write /home/ann/shop/notes.md?')
        expect(page.text).toContain('Denied by alice via the dashboard')
      })

      test('a new file shows its path and its preview as two code blocks on the dashboard', async () => {
        const c = hookClient(t.app, alice.key)
        await answered(c, 'permission-request-write', 'Deny')
        const session = await webLogin(t.app, alice.email, 'correct horse battery')
        const page = await webGet(t.app, `/instances/${c.instanceId}`, session)
        expect(page.text).toContain('<pre><code>/home/ann/shop/notes.md\n</code></pre>')
        expect(page.text).not.toContain('```')
      })

      test('edits show as a diff, a new file as path and preview, other tools as JSON', async () => {
        const c = hookClient(t.app, alice.key)
        await answered(c, 'permission-request-edit', 'Allow')
        await answered(c, 'permission-request-multi-edit', 'Allow')
        await answered(c, 'permission-request-write', 'Allow')
        await answered(c, 'permission-request-webfetch', 'Deny')
        const questions = (await thread(c.instanceId))
          .filter((m) => m.sender === 'AGENT')
          .map((m) => m.content)
        expect(questions[0]).toStartWith('Allow Edit: edit /home/ann/shop/src/cart.ts?')
        expect(questions[0]).toContain('```diff\n@@\n-const total = 0\n-return total\n+let total = 0\n')
        expect(questions[1]).toStartWith('Allow MultiEdit: 2 edits to /home/ann/shop/README.md?')
        expect(questions[1]).toContain('-# Shop\n+# Shop service\n@@\n-npm test\n+bun test')
        expect(questions[2]).toStartWith('Allow Write: write /home/ann/shop/notes.md?')
        expect(questions[2]).toContain('# Notes\n\n- first')
        expect(questions[3]).toStartWith('Allow WebFetch: https://example.com/docs?')
        expect(questions[3]).toContain('```json\n{\n  "url": "https://example.com/docs"')
      })

      test('a plan is shown as Markdown; a PermissionRequest for AskUserQuestion is left to its PreToolUse', async () => {
        const c = hookClient(t.app, alice.key)
        const plan = '## Plan\n\n1. Fix the rounding\n2. Add a test'
        const asked = nextQuestion(t.bus, c.instanceId)
        const pending = c.send('permission-request-webfetch', {
          change: { tool_name: 'ExitPlanMode', tool_input: { plan } },
        })
        await press(c.instanceId, await asked, 'Allow')
        expect((await pending).json.hookSpecificOutput.decision.behavior).toBe('allow')
        const [q] = await thread(c.instanceId)
        expect(q!.content).toStartWith(`Allow ExitPlanMode: start on this plan?\n\n${plan}\n\n`)
        const ask = fixture('claude-code', 'pre-tool-use-ask-user-question')
        const res = await c.send('permission-request-bash', {
          change: { tool_name: 'AskUserQuestion', tool_input: ask.tool_input },
        })
        expect(res.json).toEqual({})
        expect(await thread(c.instanceId)).toHaveLength(2)
      })

      test('PreToolUse of another tool asks the same; the answer is a permissionDecision with a reason', async () => {
        const c = hookClient(t.app, alice.key)
        expect(await answered(c, 'pre-tool-use-bash', 'Allow')).toEqual({
          hookSpecificOutput: {
            hookEventName: 'PreToolUse',
            permissionDecision: 'allow',
            permissionDecisionReason: 'Allowed by alice via the dashboard',
          },
        })
        expect(await answered(c, 'pre-tool-use-bash', 'not now')).toEqual({
          hookSpecificOutput: {
            hookEventName: 'PreToolUse',
            permissionDecision: 'deny',
            permissionDecisionReason: 'not now',
          },
        })
      })

      test('Codex: PermissionRequest never gets updatedPermissions; PreToolUse allow is left to Codex, deny denies', async () => {
        const c = hookClient(t.app, alice.key, 'codex')
        const out = await answered(c, 'permission-request', 'Allow for this session')
        expect(out).toEqual({
          hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } },
        })
        const q = (await thread(c.instanceId))[0]!
        expect(q.content.split('\n')[0]).toBe('Allow Bash: git push origin v1.2.0?')
        // `git` is now allowed for that session: PreToolUse on a fresh one asks.
        const d = hookClient(t.app, alice.key, 'codex')
        expect(await answered(d, 'pre-tool-use', 'Allow')).toEqual({})
        expect(await answered(d, 'pre-tool-use', 'Deny')).toEqual({
          hookSpecificOutput: {
            hookEventName: 'PreToolUse',
            permissionDecision: 'deny',
            permissionDecisionReason: 'Denied by alice via the dashboard',
          },
        })
      })
    })

    describe('AskUserQuestion', () => {
      test('one question: its labels are the buttons; the answer comes back in updatedInput.answers', async () => {
        const c = hookClient(t.app, alice.key)
        const out = await answered(c, 'pre-tool-use-ask-user-question', 'PostgreSQL')
        const input = fixture('claude-code', 'pre-tool-use-ask-user-question').tool_input as Record<
          string,
          unknown
        >
        expect(out.hookSpecificOutput).toMatchObject({
          hookEventName: 'PreToolUse',
          permissionDecision: 'allow',
          permissionDecisionReason: 'Answered by alice via the API',
          updatedInput: { ...input, answers: { 'Which database should I use?': 'PostgreSQL' } },
        })
        const [q] = await thread(c.instanceId)
        expect(q!.options).toEqual(['PostgreSQL', 'SQLite'])
        expect(q!.content).toContain('**Database** · Which database should I use?')
        expect(q!.content).toContain('- **SQLite** — A file, no server')
      })

      test('several questions are asked in turn; a multi-select answer is its labels joined with ", "', async () => {
        const c = hookClient(t.app, alice.key)
        let asked = nextQuestion(t.bus, c.instanceId)
        const pending = c.send('pre-tool-use-ask-user-question-multi')
        await asked
        asked = nextQuestion(t.bus, c.instanceId)
        await reply(c.instanceId, 'lint,  Tests')
        await asked
        await reply(c.instanceId, 'Yes')
        const out = (await pending).json
        expect(out.hookSpecificOutput.updatedInput.answers).toEqual({
          'Which checks should run on every push?': 'Lint, Tests',
          'Deploy after a green build?': 'Yes',
        })
        const qs = (await thread(c.instanceId)).filter((m) => m.sender === 'AGENT')
        expect(qs.map((q) => q.options)).toEqual([
          ['Lint', 'Types', 'Tests'],
          ['Yes', 'No'],
        ])
      })
    })

    describe('steering', () => {
      test('a message sent while the agent works is handed over at the next Stop, once', async () => {
        const c = hookClient(t.app, alice.key)
        await c.send('user-prompt-submit')
        await reply(c.instanceId, 'Also update the README when you are done')
        // What the agent posts meanwhile does not consume the message.
        await c.send('notification-idle')
        await answered(c, 'permission-request-bash', 'Allow')
        const stop = await c.send('stop')
        expect(stop.json.decision).toBe('block')
        expect(stop.json.reason).toContain('Also update the README when you are done')
        // The prompt typed at the terminal and the answer a hook returned are not handed back.
        expect(stop.json.reason).not.toContain('Run the tests')
        expect(stop.json.reason).not.toContain('Allow')
        const again = await c.send('stop', { change: { stop_hook_active: true } })
        expect(again.json).toEqual({})
        const last = (await thread(c.instanceId)).at(-1)!
        expect(last.content).toContain('Waiting for your next instruction')
      })

      test('a Stop that fails before it answers hands the messages to the next Stop', async () => {
        const c = hookClient(t.app, alice.key)
        await c.send('session-start')
        await reply(c.instanceId, 'do X next')
        // Writing the Stop's message fails (the database refuses, the request dies mid-way).
        // (A message is written by one statement, `execute`, or by a transaction.)
        const db = new Proxy(t.core.db, {
          get: (target, name) =>
            name === 'transaction' || name === 'execute'
              ? () => Promise.reject(new Error('the write failed'))
              : Reflect.get(target, name, target),
        })
        const body = { ...fixture('claude-code', 'stop'), session_id: c.sessionId }
        const hold = { deadline: Date.now() + 1000, signal: new AbortController().signal }
        const failing = handleHook({ ...t.core, db }, { userId: alice.id, agent: 'claude_code', body, hold })
        await expect(failing).rejects.toThrow('the write failed')
        const next = await c.send('stop')
        expect(next.json.decision).toBe('block')
        expect(next.json.reason).toContain('do X next')
      })

      test('Stop closes a question answered at the terminal: a later message is steering, not its answer', async () => {
        const c = hookClient(t.app, alice.key)
        const asked = nextQuestion(t.bus, c.instanceId)
        // Claude Code keeps the request open after the person answered in its own dialog.
        const held = c.send('permission-request-bash', { timeout: 60 })
        const questionId = await asked
        const stop = await c.send('stop')
        expect(stop.json).toEqual({})
        expect((await held).json).toEqual({})
        const [q] = await rows<{ answered_via: string; metadata: { closed_reason: string } }>(
          'select answered_via, metadata from messages where id = $1',
          [questionId],
        )
        expect(q!.answered_via).toBe('closed')
        expect(q!.metadata.closed_reason).toBe('answered at the terminal or timed out')
        await reply(c.instanceId, 'now also run the linter')
        const next = await c.send('stop')
        expect(next.json.decision).toBe('block')
        expect(next.json.reason).toContain('now also run the linter')
      })

      test('a Stop with nothing new lets the agent stop, also while a Stop hook is active', async () => {
        const c = hookClient(t.app, alice.key)
        expect((await c.send('stop')).json).toEqual({})
        await reply(c.instanceId, 'one more thing')
        const first = await c.send('stop', { change: { stop_hook_active: true } })
        expect(first.json.decision).toBe('block')
        expect((await c.send('stop', { change: { stop_hook_active: true } })).json).toEqual({})
      })
    })

    describe('giving up', () => {
      test('an answer the agent can no longer receive (it hung up) is never reported to it', async () => {
        const c = hookClient(t.app, alice.key)
        await c.send('session-start')
        const s = { userId: alice.id, instanceId: c.instanceId, agent: 'claude_code' as const }
        const questionId = await postHookMessage(t.core, s, {
          content: 'Allow?',
          options: [...APPROVAL_OPTIONS],
        })
        // The answer lands just as the agent's request closes.
        await answerQuestion(t.core, {
          actorUserId: alice.id,
          questionId,
          answer: { option: 1 },
          channel: 'web',
        })
        const gone = new AbortController()
        gone.abort()
        const hold = { deadline: Date.now() + 5000, signal: gone.signal }
        expect(await awaitHookAnswer(t.core, s, questionId, hold)).toBeNull()
      })

      test('the agent closing the request closes the question; a later answer changes nothing', async () => {
        const c = hookClient(t.app, alice.key)
        const gone = new AbortController()
        const asked = nextQuestion(t.bus, c.instanceId)
        const pending = c.send('permission-request-bash', { signal: gone.signal }).catch(() => null)
        const questionId = await asked
        expect((await instance(c.instanceId))?.status).toBe('AWAITING_INPUT')
        gone.abort()
        await pending
        const q = (await thread(c.instanceId)).find((m) => m.id === questionId)!
        expect(q.answered_via).toBe('closed')
        expect(q.metadata).toMatchObject({ closed_reason: 'answered at the terminal or timed out' })
        expect((await instance(c.instanceId))?.status).toBe('ACTIVE')
      })

      test('Parley answers {} before the hook timeout given in ?timeout=, and closes the question', async () => {
        const c = hookClient(t.app, alice.key)
        const started = Date.now()
        const res = await c.send('permission-request-bash', { timeout: 2 })
        const took = Date.now() - started
        expect(res).toMatchObject({ status: 200, json: {} })
        expect(took).toBeGreaterThanOrEqual(900)
        expect(took).toBeLessThan(2000)
        expect((await thread(c.instanceId))[0]!.answered_via).toBe('closed')
      })

      test('SessionEnd closes the questions still open', async () => {
        const c = hookClient(t.app, alice.key)
        const gone = new AbortController()
        const asked = nextQuestion(t.bus, c.instanceId)
        const pending = c.send('pre-tool-use-ask-user-question', { timeout: 60, signal: gone.signal })
        await asked
        // The agent is still holding the request when its session ends (the terminal quit).
        await c.send('session-end')
        expect((await thread(c.instanceId))[0]!.answered_via).toBe('closed')
        expect((await pending).json).toEqual({})
        gone.abort()
      })
    })
  })
}
