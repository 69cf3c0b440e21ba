// Bad input on the agent REST API: every malformed request gets an honest status, a JSON error
// naming the offending field, Omnara's `detail` string, and writes nothing. Text the database
// cannot store and JSON nested too deep are refused the same way on MCP, hooks, forms and bots.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { answerQuestion, questionToAnswer } from '../../src/core/answers.ts'
import { MAX_CONTENT_CHARS } from '../../src/core/context.ts'
import { MAX_JSON_DEPTH } from '../../src/core/storable.ts'
import { MAX_BODY_BYTES } from '../../src/http/errors.ts'
import { call, dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'
import { postForm, webGet, webLogin } from '../web/helpers.ts'

type Res = Awaited<ReturnType<typeof call>>
type Expected = { status: number; code: string; field?: string; detail?: string | RegExp }
type Case = { name: string; send: () => Promise<Res>; expect: Expected }

const invalid = (field: string, detail?: string | RegExp): Expected => ({
  status: 422,
  code: 'INVALID_INPUT',
  field,
  ...(detail ? { detail } : {}),
})

for (const kind of dbKinds()) {
  describe(`bad input (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    let server: ReturnType<typeof Bun.serve>
    /** What the real HTTP server saw of each request's framing. */
    const seen: { path: string; contentLength: string | null; transferEncoding: string | null }[] = []
    const existing = uuid()
    let stepId: string

    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
      const step = await call(t.app, 'POST', '/api/v1/messages/agent', {
        key: alice.key,
        body: { agent_instance_id: existing, agent_type: 'claude code', content: 'working' },
      })
      expect(step.status).toBe(200)
      stepId = step.json.message_id
      server = Bun.serve({
        port: 0,
        fetch: (request) => {
          seen.push({
            path: new URL(request.url).pathname,
            contentLength: request.headers.get('content-length'),
            transferEncoding: request.headers.get('transfer-encoding'),
          })
          return t.app.handle(request)
        },
      })
    }, 60_000)
    afterAll(async () => {
      server.stop(true)
      await t.close()
    })

    /** Everything a rejected request could have written. */
    const state = async () => {
      const [counts] = await t.database.query<{ messages: number; types: number; deliveries: number }>(
        `select (select count(*)::int from messages) as messages,
                (select count(*)::int from agent_types) as types,
                (select count(*)::int from deliveries) as deliveries`,
      )
      const instances = await t.database.query<{ j: string }>(
        'select to_jsonb(i)::text as j from agent_instances i order by id',
      )
      return { ...counts, instances: instances.map((r) => r.j) }
    }

    async function expectRejected(send: () => Promise<Res>, want: Expected): Promise<Res> {
      const before = await state()
      const r = await send()
      const after = await state()
      expect(r.status).toBe(want.status)
      expect(r.headers.get('content-type')).toContain('application/json')
      expect(r.json?.error?.code).toBe(want.code)
      expect(typeof r.json.error.message).toBe('string')
      expect(typeof r.json.detail).toBe('string')
      expect(r.json.detail).toBe(r.json.error.message)
      if (want.field !== undefined) {
        expect(r.json.error.field).toBe(want.field)
        // People read `detail`: a 422 names the field there too.
        if (want.status === 422) expect(r.json.detail).toContain(want.field)
      }
      if (want.detail !== undefined) {
        if (typeof want.detail === 'string') expect(r.json.detail).toBe(want.detail)
        else expect(r.json.detail).toMatch(want.detail)
      }
      expect(after).toEqual(before)
      return r
    }

    const post = (path: string, body: unknown, headers?: Record<string, string>) => () =>
      call(t.app, 'POST', `/api/v1${path}`, { key: alice.key, body, headers })
    const raw = (method: string, path: string, rawBody: string) => () =>
      call(t.app, method, `/api/v1${path}`, { key: alice.key, rawBody })
    const get = (path: string) => () => call(t.app, 'GET', `/api/v1${path}`, { key: alice.key })
    // A body that would create an instance if validation let it through.
    const fresh = () => ({ agent_instance_id: uuid(), agent_type: 'x', content: 'hello' })

    const cases: Case[] = [
      // Malformed JSON.
      {
        name: 'malformed JSON on POST /messages/agent',
        send: raw('POST', '/messages/agent', `{"agent_instance_id":"${uuid()}","agent_type":"x","content":`),
        expect: invalid('body', /malformed/),
      },
      {
        name: 'malformed JSON on POST /messages/user',
        send: raw('POST', '/messages/user', `{"agent_instance_id":"${existing}", content: 'hi'}`),
        expect: invalid('body', /malformed/),
      },
      {
        name: 'malformed JSON on POST /sessions/end',
        send: raw('POST', '/sessions/end', `{"agent_instance_id":"${existing}"`),
        expect: invalid('body', /malformed/),
      },
      {
        name: 'malformed JSON on POST /agent-instances',
        send: raw('POST', '/agent-instances', '{agent_type: x}'),
        expect: invalid('body', /malformed/),
      },
      {
        name: 'malformed JSON on PUT /agent-instances/{id}/status',
        send: raw('PUT', `/agent-instances/${existing}/status`, '{"status": COMPLETED}'),
        expect: invalid('body', /malformed/),
      },
      // Wrong types.
      {
        name: 'content: 123',
        send: post('/messages/agent', { ...fresh(), content: 123 }),
        expect: invalid('content', /string/),
      },
      {
        name: 'requires_user_input: "maybe"',
        send: post('/messages/agent', { ...fresh(), requires_user_input: 'maybe' }),
        expect: invalid('requires_user_input', /boolean/),
      },
      {
        name: 'options: "a"',
        send: post('/messages/agent', { ...fresh(), requires_user_input: true, options: 'a' }),
        expect: invalid('options', /array/),
      },
      {
        name: 'content: 123 on POST /messages/user',
        send: post('/messages/user', { agent_instance_id: existing, content: 123 }),
        expect: invalid('content'),
      },
      {
        name: 'mark_as_read: null (Omnara gives 422 too)',
        send: post('/messages/user', { agent_instance_id: existing, content: 'x', mark_as_read: null }),
        expect: invalid('mark_as_read'),
      },
      {
        name: 'agent_instance_id: 42 on POST /messages/user',
        send: post('/messages/user', { agent_instance_id: 42, content: 'x' }),
        expect: invalid('agent_instance_id'),
      },
      {
        name: 'status: 5 on PUT /agent-instances/{id}/status',
        send: () =>
          call(t.app, 'PUT', `/api/v1/agent-instances/${existing}/status`, {
            key: alice.key,
            body: { status: 5 },
          }),
        expect: invalid('status'),
      },
      // Missing required fields.
      {
        name: 'missing content on POST /messages/agent',
        send: post('/messages/agent', { agent_instance_id: uuid(), agent_type: 'x' }),
        expect: invalid('content'),
      },
      {
        name: 'missing content on POST /messages/user',
        send: post('/messages/user', { agent_instance_id: existing }),
        expect: invalid('content'),
      },
      {
        name: 'missing agent_instance_id on POST /messages/user',
        send: post('/messages/user', { content: 'orphan' }),
        expect: invalid('agent_instance_id'),
      },
      {
        name: 'missing agent_instance_id on POST /sessions/end',
        send: post('/sessions/end', {}),
        expect: invalid('agent_instance_id'),
      },
      {
        name: 'missing agent_type on POST /agent-instances',
        send: post('/agent-instances', { agent_instance_id: uuid() }),
        expect: invalid('agent_type'),
      },
      {
        name: 'missing status on PUT /agent-instances/{id}/status',
        send: () =>
          call(t.app, 'PUT', `/api/v1/agent-instances/${existing}/status`, { key: alice.key, body: {} }),
        expect: invalid('status'),
      },
      {
        name: 'missing agent_instance_id on GET /messages/pending',
        send: get('/messages/pending'),
        expect: invalid('agent_instance_id'),
      },
      // Ids that are not UUIDs: in the body, the query and the path.
      {
        name: 'non-UUID agent_instance_id in the body of POST /messages/agent',
        send: post('/messages/agent', { ...fresh(), agent_instance_id: 'not-a-uuid' }),
        expect: invalid('agent_instance_id', 'agent_instance_id must be a UUID'),
      },
      {
        name: 'non-UUID agent_instance_id in the body of POST /messages/user',
        send: post('/messages/user', { agent_instance_id: 'not-a-uuid', content: 'x' }),
        expect: invalid('agent_instance_id', 'agent_instance_id must be a UUID'),
      },
      {
        name: 'non-UUID agent_instance_id in the body of POST /sessions/end',
        send: post('/sessions/end', { agent_instance_id: "1'; drop table messages; --" }),
        expect: invalid('agent_instance_id', 'agent_instance_id must be a UUID'),
      },
      {
        name: 'non-UUID agent_instance_id in the body of POST /agent-instances',
        send: post('/agent-instances', { agent_instance_id: '1234', agent_type: 'x' }),
        expect: invalid('agent_instance_id', 'agent_instance_id must be a UUID'),
      },
      {
        name: 'non-UUID agent_instance_id in the query of GET /messages/pending',
        send: get('/messages/pending?agent_instance_id=nope'),
        expect: invalid('agent_instance_id', 'agent_instance_id must be a UUID'),
      },
      {
        name: 'non-UUID last_read_message_id in the query of GET /messages/pending',
        send: get(`/messages/pending?agent_instance_id=${existing}&last_read_message_id=zzz`),
        expect: invalid('last_read_message_id', 'last_read_message_id must be a UUID'),
      },
      {
        name: 'non-UUID message id in the path of PATCH /messages/{id}/request-input',
        send: () => call(t.app, 'PATCH', '/api/v1/messages/not-a-uuid/request-input', { key: alice.key }),
        expect: invalid('message_id', 'message_id must be a UUID'),
      },
      {
        name: 'non-UUID id in the path of POST /agents/instances/{id}/heartbeat',
        send: () => call(t.app, 'POST', '/api/v1/agents/instances/not-a-uuid/heartbeat', { key: alice.key }),
        expect: invalid('agent_instance_id', 'agent_instance_id must be a UUID'),
      },
      {
        name: 'non-UUID id in the path of GET /agent-instances/{id}',
        send: get('/agent-instances/not-a-uuid'),
        expect: invalid('id', 'id must be a UUID'),
      },
      {
        name: 'non-UUID id in the path of PUT /agent-instances/{id}/status',
        send: () =>
          call(t.app, 'PUT', '/api/v1/agent-instances/not-a-uuid/status', {
            key: alice.key,
            body: { status: 'COMPLETED' },
          }),
        expect: invalid('id', 'id must be a UUID'),
      },
      // wait out of range or not a number.
      ...['61', '-1', '3600', 'abc', 'NaN', 'Infinity', '1e9', '5s'].map(
        (wait): Case => ({
          name: `wait=${wait}`,
          send: get(`/messages/pending?agent_instance_id=${existing}&wait=${encodeURIComponent(wait)}`),
          expect: invalid('wait', 'wait must be a number of seconds between 0 and 60'),
        }),
      ),
      // Unknown status.
      ...['PAUSED', 'completed', 'DELETED', ''].map(
        (status): Case => ({
          name: `PUT status ${JSON.stringify(status)}`,
          send: () =>
            call(t.app, 'PUT', `/api/v1/agent-instances/${existing}/status`, {
              key: alice.key,
              body: { status },
            }),
          expect: {
            status: 400,
            code: 'BAD_REQUEST',
            field: 'status',
            detail: 'Status update not supported',
          },
        }),
      ),
      // Content over the limit.
      {
        name: `content of ${MAX_CONTENT_CHARS + 1} characters on POST /messages/agent`,
        send: post('/messages/agent', { ...fresh(), content: 'x'.repeat(MAX_CONTENT_CHARS + 1) }),
        expect: invalid('content'),
      },
      {
        name: `content of ${MAX_CONTENT_CHARS + 1} characters on POST /messages/user`,
        send: post('/messages/user', {
          agent_instance_id: existing,
          content: 'é'.repeat(MAX_CONTENT_CHARS + 1),
        }),
        expect: invalid('content'),
      },
      // Idempotency-Key too long.
      {
        name: 'a 201-character Idempotency-Key',
        send: post('/messages/agent', fresh(), { 'idempotency-key': 'k'.repeat(201) }),
        expect: invalid('Idempotency-Key', 'Idempotency-Key header must be at most 200 characters'),
      },
    ]

    for (const c of cases) {
      test(`${c.name} → ${c.expect.status} ${c.expect.code}${c.expect.field ? ` (${c.expect.field})` : ''}`, async () => {
        await expectRejected(c.send, c.expect)
      })
    }

    test('a missing field is reported as required, in words a person understands', async () => {
      const missing: [string, string, object][] = [
        ['/messages/agent', 'content', { agent_instance_id: uuid(), agent_type: 'x' }],
        ['/messages/user', 'agent_instance_id', { content: 'orphan' }],
        ['/sessions/end', 'agent_instance_id', {}],
      ]
      for (const [path, field, body] of missing) {
        const r = await expectRejected(post(path, body), invalid(field))
        expect(r.json.detail).toMatch(new RegExp(`^${field}: .*(required|missing)`))
      }
    })

    test('the limits are not off by one: exactly 100,000 characters and a 200-character key are accepted', async () => {
      const id = uuid()
      const r = await post(
        '/messages/agent',
        { agent_instance_id: id, agent_type: 'x', content: 'x'.repeat(MAX_CONTENT_CHARS) },
        { 'idempotency-key': 'k'.repeat(200) },
      )()
      expect(r.status).toBe(200)
      const rows = await t.database.query<{ n: number }>(
        'select length(content)::int as n from messages where instance_id = $1',
        [id],
      )
      expect(rows).toEqual([{ n: MAX_CONTENT_CHARS }])
    })

    test('after every rejected request the instance is as it was: still ACTIVE, its step not a question', async () => {
      const r = await call(t.app, 'GET', `/api/v1/agent-instances/${existing}`, { key: alice.key })
      expect(r.json.status).toBe('ACTIVE')
      const again = await call(t.app, 'PATCH', `/api/v1/messages/${stepId}/request-input`, { key: alice.key })
      // The step was never turned into a question by any of the rejected calls above.
      expect(again.status).toBe(200)
    })

    describe('bodies over 1 MiB are refused with 413 over real HTTP', () => {
      const big = () =>
        JSON.stringify({ agent_instance_id: uuid(), agent_type: 'x', content: 'x'.repeat(MAX_BODY_BYTES) })
      const send = async (
        path: string,
        body: BodyInit,
        headers: Record<string, string> = {},
      ): Promise<Res> => {
        const res = await fetch(`${server.url}api/v1${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${alice.key}`, 'content-type': 'application/json', ...headers },
          body,
        })
        const text = await res.text()
        let json: Res['json'] = null
        try {
          json = JSON.parse(text)
        } catch {}
        return { status: res.status, json, text, headers: res.headers }
      }
      const tooLarge: Expected = {
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
        field: 'body',
        detail: `Request body is larger than ${MAX_BODY_BYTES} bytes`,
      }
      /** A chunked body: 64 KiB pieces of one JSON document, with no content-length. */
      const stream = (bytes: number) => {
        const encoder = new TextEncoder()
        const head = `{"agent_instance_id":"${uuid()}","agent_type":"x","content":"`
        let sent = 0
        let started = false
        return new ReadableStream<Uint8Array>({
          pull(controller) {
            if (!started) {
              started = true
              controller.enqueue(encoder.encode(head))
              return
            }
            if (sent >= bytes) {
              controller.enqueue(encoder.encode('"}'))
              controller.close()
              return
            }
            const n = Math.min(65_536, bytes - sent)
            sent += n
            controller.enqueue(encoder.encode('x'.repeat(n)))
          },
        })
      }

      test('with a content-length header', async () => {
        const body = big()
        expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_BODY_BYTES)
        await expectRejected(() => send('/messages/agent', body), tooLarge)
        expect(seen.at(-1)!.contentLength).toBe(String(Buffer.byteLength(body)))
      })

      test('as a chunked stream with no content-length', async () => {
        await expectRejected(() => send('/messages/agent', stream(MAX_BODY_BYTES + 1024)), tooLarge)
        expect(seen.at(-1)!.contentLength).toBeNull()
        expect(seen.at(-1)!.transferEncoding).toBe('chunked')
      })

      test('on POST /messages/user with a content-length header', async () => {
        const body = JSON.stringify({ agent_instance_id: existing, content: 'y'.repeat(MAX_BODY_BYTES) })
        await expectRejected(() => send('/messages/user', body), tooLarge)
      })

      test('on POST /messages/user as a chunked stream', async () => {
        const encoder = new TextEncoder()
        let n = 0
        const chunked = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (n === 0) controller.enqueue(encoder.encode(`{"agent_instance_id":"${existing}","content":"`))
            else if (n <= 20) controller.enqueue(encoder.encode('y'.repeat(65_536)))
            else {
              controller.enqueue(encoder.encode('"}'))
              controller.close()
            }
            n++
          },
        })
        await expectRejected(() => send('/messages/user', chunked), tooLarge)
        expect(seen.at(-1)!.contentLength).toBeNull()
      })

      test('a chunked body just under the limit is not refused as too large', async () => {
        const r = await send('/messages/agent', stream(MAX_BODY_BYTES - 1024))
        // Its content is over 100,000 characters: the content check answers, not the size check.
        expect(r.status).toBe(422)
        expect(r.json.error.field).toBe('content')
        expect(r.json.detail).toContain('100000')
      })
    })

    describe('text the database cannot store, and JSON nested too deep, on every way in', () => {
      /** `n` objects nested in one another. */
      const nest = (n: number): unknown => {
        let v: unknown = {}
        for (let i = 1; i < n; i++) v = { a: v }
        return v
      }
      const hostile: Case[] = [
        ['content', { content: 'a\u0000b' }],
        ['agent_type', { agent_type: 'x\u0000' }],
        ['content', { content: 'half a pair \ud83d' }],
        ['content', { content: '\udc00 backwards' }],
        ['message_metadata.note', { message_metadata: { note: 'nul\u0000' } }],
        ['message_metadata.a.b.1', { message_metadata: { a: { b: ['ok', '\ud800'] } } }],
        ['message_metadata.k\u0000', { message_metadata: { 'k\u0000': 1 } }],
        ['message_metadata', { message_metadata: nest(5000) }],
        // The body is level 1, message_metadata level 2: one level over the bound.
        ['message_metadata', { message_metadata: { deep: nest(MAX_JSON_DEPTH - 1) } }],
        ['message_metadata', { message_metadata: 'a string' }],
        ['message_metadata', { message_metadata: '{"a":1}' }],
        ['message_metadata', { message_metadata: 42 }],
        ['message_metadata', { message_metadata: ['a'] }],
        ['options.1', { requires_user_input: true, options: ['yes', 'n\u0000'] }],
        ['git_diff', { git_diff: 'diff --git a/x b/x\u0000' }],
      ].map(([field, change]) => ({
        name: `POST /messages/agent with ${JSON.stringify(change).slice(0, 60)}`,
        send: post('/messages/agent', { ...fresh(), ...(change as object) }),
        expect: invalid(field as string),
      }))
      hostile.push(
        {
          name: 'POST /messages/user with a NUL in content',
          send: post('/messages/user', { agent_instance_id: existing, content: 'ok\u0000' }),
          expect: invalid('content', 'content: must not contain NUL characters'),
        },
        {
          name: 'POST /agent-instances with a lone surrogate in name',
          send: post('/agent-instances', { agent_instance_id: uuid(), agent_type: 'x', name: '\udfff' }),
          expect: invalid('name', 'name: must be valid Unicode (a lone surrogate was sent)'),
        },
        {
          name: 'GET /messages/pending with a NUL in the query',
          send: get(`/messages/pending?agent_instance_id=${existing}&wait=%00`),
          expect: invalid('wait', 'wait: must not contain NUL characters'),
        },
        {
          name: 'a path segment that is not UTF-8 once decoded',
          send: get('/agent-instances/%ED%A0%80'),
          expect: invalid('id', 'id: is not valid percent-encoded UTF-8'),
        },
        {
          name: 'a whole body nested deeper than the bound',
          send: post('/agent-instances', nest(MAX_JSON_DEPTH + 1)),
          expect: invalid('a'),
        },
      )
      for (const c of hostile) {
        test(`${c.name} → 422 (${c.expect.field})`, async () => {
          await expectRejected(c.send, c.expect)
        })
      }

      test('the bounds are not off by one: a pair of surrogates and JSON nested to the limit are stored', async () => {
        // Exactly MAX_JSON_DEPTH levels: body, message_metadata, then the rest.
        const metadata = { '😀': nest(MAX_JSON_DEPTH - 2), list: [{ b: ['ok'] }] }
        const body = { ...fresh(), content: 'all fine 😀', message_metadata: metadata }
        const r = await post('/messages/agent', body)()
        expect(r.status).toBe(200)
        const [row] = await t.database.query<{ content: string; metadata: unknown }>(
          'select content, metadata from messages where id = $1',
          [r.json.message_id],
        )
        expect(row).toEqual({ content: 'all fine 😀', metadata })
      })

      /** A rejected request outside /api: the same error body, without Omnara's detail. */
      async function expectRefused(send: () => Promise<{ status: number; text: string }>, field: string) {
        const before = await state()
        const r = await send()
        const after = await state()
        expect(r.status).toBe(422)
        const json = JSON.parse(r.text)
        expect(json.error.code).toBe('INVALID_INPUT')
        expect(json.error.field).toBe(field)
        expect(json.error.message).toStartWith(`${field}: `)
        expect(after).toEqual(before)
      }

      test('MCP: a tool argument with a NUL is refused before the tool runs', async () => {
        const rpc = (args: object) => () =>
          call(t.app, 'POST', '/mcp', {
            key: alice.key,
            headers: { accept: 'application/json, text/event-stream' },
            body: {
              jsonrpc: '2.0',
              id: 1,
              method: 'tools/call',
              params: { name: 'log_step', arguments: args },
            },
          })
        await expectRefused(
          rpc({ agent_instance_id: existing, step_description: 'step\u0000' }),
          'params.arguments.step_description',
        )
        await expectRefused(
          rpc({ agent_instance_id: existing, step_description: 'ok', metadata: nest(100) }),
          'params',
        )
      })

      test('hooks: a deep tool_input and a lone surrogate in a prompt are refused', async () => {
        const hook = (body: object) => () =>
          call(t.app, 'POST', '/hooks/claude-code', { key: alice.key, body })
        const base = { session_id: `s-${uuid()}`, cwd: '/repo' }
        await expectRefused(
          hook({ ...base, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: nest(200) }),
          'tool_input',
        )
        await expectRefused(
          hook({ ...base, hook_event_name: 'UserPromptSubmit', prompt: 'do \ud800 this' }),
          'prompt',
        )
      })

      test('dashboard form: a reply with a NUL is refused, nothing written', async () => {
        const session = await webLogin(t.app, alice.email, 'correct horse battery')
        await expectRefused(
          () => postForm(t.app, `/instances/${existing}/reply`, { content: 'hi\u0000there' }, session),
          'content',
        )
      })

      test('names every object inherits are no file, notice or action on the dashboard', async () => {
        const session = await webLogin(t.app, alice.email, 'correct horse battery')
        for (const name of ['constructor', '__proto__', 'valueOf', 'hasOwnProperty', 'toString']) {
          expect((await webGet(t.app, `/assets/${name}`)).status).toBe(404)
          const settings = await webGet(t.app, `/settings?done=${name}`, session)
          expect([name, settings.status]).toEqual([name, 200])
          const page = await webGet(t.app, `/instances/${existing}?done=${name}`, session)
          expect([name, page.status]).toEqual([name, 200])
          const before = await state()
          const action = await postForm(t.app, `/instances/${existing}/${name}`, {}, session)
          expect([name, action.status]).toEqual([name, 404])
          expect(await state()).toEqual(before)
        }
      })

      test('chat bots: core refuses their unstorable text and ids that are no UUIDs', async () => {
        const before = await state()
        for (const text of ['nul\u0000', 'lone \udbff']) {
          const r = await answerQuestion(t.core, {
            actorUserId: alice.id,
            instanceId: existing,
            answer: { text },
            channel: 'telegram',
            allowShared: true,
          })
          expect(r).toMatchObject({ status: 'refused', code: 'INVALID', field: 'content' })
        }
        // A forged button value (Slack action, Telegram callback data) names no question.
        const q = await questionToAnswer(t.core, alice.id, "x'; --")
        expect(q).toMatchObject({ status: 'refused', code: 'NOT_FOUND' })
        expect(await state()).toEqual(before)
      })
    })

    test('an unknown path is a JSON 404, with Omnara’s detail under /api', async () => {
      for (const path of ['/api/v1/nope', '/api/v1/messages/agent/extra', '/api/v2/messages/agent']) {
        const r = await call(t.app, 'GET', path, { key: alice.key })
        expect(r.status).toBe(404)
        expect(r.headers.get('content-type')).toContain('application/json')
        expect(r.json).toEqual({ error: { code: 'NOT_FOUND', message: 'Not Found' }, detail: 'Not Found' })
      }
      const outside = await call(t.app, 'GET', '/definitely/not/here')
      expect(outside.status).toBe(404)
      expect(outside.headers.get('content-type')).toContain('application/json')
      expect(outside.json).toEqual({ error: { code: 'NOT_FOUND', message: 'Not Found' } })
    })
  })
}
