// The Omnara-compatible REST API, end to end through the app, on every database of this run.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { BusEvent } from '../../src/events/bus.ts'
import { call, dbKinds, makeUser, type TestApp, testApp, uuid } from '../helpers.ts'

const DIFF = [
  'diff --git a/x.ts b/x.ts',
  'index 1234abc..5678def 100644',
  '--- a/x.ts',
  '+++ b/x.ts',
  '@@ -1,2 +1,2 @@',
  ' keep',
  '-old',
  '+new',
].join('\n')

for (const kind of dbKinds()) {
  describe(`agent REST API (${kind})`, () => {
    let t: TestApp
    let alice: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      alice = await makeUser(t.database.db, 'alice')
    }, 60_000)
    afterAll(() => t.close())

    const agent = (body: object, headers?: Record<string, string>) =>
      call(t.app, 'POST', '/api/v1/messages/agent', { key: alice.key, body, headers })
    const user = (body: object) => call(t.app, 'POST', '/api/v1/messages/user', { key: alice.key, body })
    const pending = (query: string) =>
      call(t.app, 'GET', `/api/v1/messages/pending?${query}`, { key: alice.key })

    test('first agent message creates the instance with a lowercased, trimmed agent type', async () => {
      const id = uuid()
      const r = await agent({ agent_instance_id: id, agent_type: ' Claude Code ', content: 'Starting' })
      expect(r.status).toBe(200)
      expect(r.headers.get('content-type')).toContain('application/json')
      expect(Object.keys(r.json)).toEqual([
        'success',
        'agent_instance_id',
        'message_id',
        'queued_user_messages',
      ])
      expect(r.json.success).toBe(true)
      expect(r.json.agent_instance_id).toBe(id)
      expect(r.json.queued_user_messages).toEqual([])
      const inst = await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })
      expect(inst.json.agent_type_name).toBe('claude code')
      expect(inst.json.status).toBe('ACTIVE')
    })

    test('a new instance without agent_type is refused and nothing is created', async () => {
      const id = uuid()
      const r = await agent({ agent_instance_id: id, content: 'hi' })
      expect(r.status).toBe(422)
      expect(r.json.error.field).toBe('agent_type')
      expect(r.json.detail).toContain('agent_type is required')
      expect((await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })).status).toBe(404)
    })

    test('agent messages return user messages queued since the cursor, five keys each, and advance it', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'codex', content: 'step 1' })
      const u1 = await user({ agent_instance_id: id, content: 'feedback A', mark_as_read: false })
      expect(u1.json).toEqual({ success: true, message_id: u1.json.message_id, marked_as_read: false })
      await user({ agent_instance_id: id, content: 'feedback B', mark_as_read: false })
      const r = await agent({ agent_instance_id: id, content: 'step 2' })
      expect(r.json.queued_user_messages.map((m: { content: string }) => m.content)).toEqual([
        'feedback A',
        'feedback B',
      ])
      const m = r.json.queued_user_messages[0]
      expect(Object.keys(m)).toEqual(['id', 'content', 'sender_type', 'created_at', 'requires_user_input'])
      expect(m.sender_type).toBe('USER')
      expect(m.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/)
      const again = await agent({ agent_instance_id: id, content: 'step 3' })
      expect(again.json.queued_user_messages).toEqual([])
    })

    test('question flow: pending with the question id as cursor returns the answer, then stale', async () => {
      const id = uuid()
      const q = await agent({
        agent_instance_id: id,
        agent_type: 'claude code',
        content: 'Proceed? [YES/NO]',
        requires_user_input: true,
      })
      const qid = q.json.message_id
      const inst = await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })
      expect(inst.json.status).toBe('AWAITING_INPUT')
      const empty = await pending(`agent_instance_id=${id}&last_read_message_id=${qid}`)
      expect(empty.json).toEqual({ agent_instance_id: id, messages: [], status: 'ok' })
      await user({ agent_instance_id: id, content: 'Yes', mark_as_read: false })
      const got = await pending(`agent_instance_id=${id}&last_read_message_id=${qid}`)
      expect(got.json.status).toBe('ok')
      expect(got.json.messages.map((m: { content: string }) => m.content)).toEqual(['Yes'])
      expect(Object.keys(got.json.messages[0])).toEqual([
        'id',
        'content',
        'sender_type',
        'created_at',
        'requires_user_input',
      ])
      // The cursor moved past the answer: the old cursor is now stale.
      const stale = await pending(`agent_instance_id=${id}&last_read_message_id=${qid}`)
      expect(stale.json).toEqual({ agent_instance_id: id, messages: [], status: 'stale' })
      const after = await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })
      expect(after.json.status).toBe('ACTIVE')
    })

    test('pending without last_read_message_id reads from the current cursor and moves nothing', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'x', content: 'a' })
      await user({ agent_instance_id: id, content: 'one', mark_as_read: false })
      const a = await pending(`agent_instance_id=${id}`)
      const b = await pending(`agent_instance_id=${id}&last_read_message_id=`)
      expect(a.json.messages.map((m: { content: string }) => m.content)).toEqual(['one'])
      expect(b.json.messages).toEqual(a.json.messages)
    })

    test('mark_as_read moves the cursor so a poller holding the old one sees stale', async () => {
      const id = uuid()
      const q = await agent({
        agent_instance_id: id,
        agent_type: 'x',
        content: 'q',
        requires_user_input: true,
      })
      await user({ agent_instance_id: id, content: 'typed in terminal' })
      const r = await pending(`agent_instance_id=${id}&last_read_message_id=${q.json.message_id}`)
      expect(r.json.status).toBe('stale')
    })

    test('pending echoes the instance id exactly as sent', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'x', content: 'a' })
      const upper = id.toUpperCase()
      const r = await pending(`agent_instance_id=${upper}`)
      expect(r.status).toBe(200)
      expect(r.json.agent_instance_id).toBe(upper)
    })

    test('request-input turns a step into a question; the second time is a 400', async () => {
      const id = uuid()
      const s = await agent({ agent_instance_id: id, agent_type: 'x', content: 'Pick one' })
      const path = `/api/v1/messages/${s.json.message_id}/request-input`
      const r = await call(t.app, 'PATCH', path, { key: alice.key })
      expect(r.status).toBe(200)
      expect(r.json).toEqual({
        success: true,
        message_id: s.json.message_id,
        agent_instance_id: id,
        messages: [],
        status: 'ok',
      })
      const inst = await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })
      expect(inst.json.status).toBe('AWAITING_INPUT')
      const second = await call(t.app, 'PATCH', path, { key: alice.key })
      expect(second.status).toBe(400)
      expect(second.json.detail).toBe('Message already requires user input')
    })

    test('request-input returns replies that were already queued; the first answers, recorded and announced', async () => {
      const id = uuid()
      const s = await agent({ agent_instance_id: id, agent_type: 'x', content: 'thinking' })
      const reply = await user({ agent_instance_id: id, content: 'already here', mark_as_read: false })
      const seen: BusEvent[] = []
      const off = t.core.bus.subscribe({ instanceId: id }, (e) => seen.push(e))
      const r = await call(t.app, 'PATCH', `/api/v1/messages/${s.json.message_id}/request-input`, {
        key: alice.key,
      }).finally(off)
      expect(r.json.messages.map((m: { content: string }) => m.content)).toEqual(['already here'])
      expect(r.json.status).toBe('ok')
      const [q] = await t.database.query<{
        answered_by: string
        answered_via: string
        answer_message_id: string
      }>('select answered_by, answered_via, answer_message_id from messages where id = $1', [
        s.json.message_id,
      ])
      expect(q).toEqual({
        answered_by: alice.id,
        answered_via: 'api',
        answer_message_id: reply.json.message_id,
      })
      expect(seen.filter((e) => e.type === 'question.answered')).toEqual([
        {
          type: 'question.answered',
          userId: alice.id,
          instanceId: id,
          questionId: s.json.message_id,
          answerId: reply.json.message_id,
        },
      ])
    })

    test('POST /messages/user records who answered, via the API, and publishes one event', async () => {
      const id = uuid()
      const q = await agent({
        agent_instance_id: id,
        agent_type: 'x',
        content: 'Go?',
        requires_user_input: true,
      })
      const seen: BusEvent[] = []
      const off = t.core.bus.subscribe({ instanceId: id }, (e) => seen.push(e))
      const r = await user({ agent_instance_id: id, content: 'go', mark_as_read: false }).finally(off)
      const [row] = await t.database.query<{ answered_by: string; answered_via: string; answered: boolean }>(
        'select answered_by, answered_via, answered_at is not null as answered from messages where id = $1',
        [q.json.message_id],
      )
      expect(row).toEqual({ answered_by: alice.id, answered_via: 'api', answered: true })
      expect(seen.filter((e) => e.type === 'question.answered')).toMatchObject([
        { answerId: r.json.message_id },
      ])
    })

    test('events carry the status the row has: a message on a COMPLETED instance does not say ACTIVE', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'x', content: 'a' })
      await call(t.app, 'POST', '/api/v1/sessions/end', { key: alice.key, body: { agent_instance_id: id } })
      const seen: BusEvent[] = []
      const off = t.core.bus.subscribe({ instanceId: id }, (e) => seen.push(e))
      const step = await agent({ agent_instance_id: id, content: 'late step', requires_user_input: false })
      await agent({ agent_instance_id: id, content: 'late question', requires_user_input: true })
      await call(t.app, 'PATCH', `/api/v1/messages/${step.json.message_id}/request-input`, { key: alice.key })
      off()
      const statuses = seen.flatMap((e) => (e.type === 'instance.updated' ? [e.status] : []))
      expect(statuses).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED'])
    })

    test('request-input on a user message or an unknown id is a 404', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'x', content: 'a' })
      const u = await user({ agent_instance_id: id, content: 'mine', mark_as_read: false })
      for (const mid of [u.json.message_id, uuid()]) {
        const r = await call(t.app, 'PATCH', `/api/v1/messages/${mid}/request-input`, { key: alice.key })
        expect(r.status).toBe(404)
        expect(r.json.detail).toBe('Agent message not found or access denied')
      }
    })

    test('end session is idempotent; later agent messages leave it COMPLETED; a user message reopens it', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'x', content: 'a' })
      for (let i = 0; i < 2; i++) {
        const r = await call(t.app, 'POST', '/api/v1/sessions/end', {
          key: alice.key,
          body: { agent_instance_id: id },
        })
        expect(r.json).toEqual({ success: true, agent_instance_id: id, final_status: 'COMPLETED' })
      }
      await agent({ agent_instance_id: id, content: 'late step' })
      const s1 = await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })
      expect(s1.json.status).toBe('COMPLETED')
      await user({ agent_instance_id: id, content: 'one more thing', mark_as_read: false })
      const s2 = await call(t.app, 'GET', `/api/v1/agent-instances/${id}`, { key: alice.key })
      expect(s2.json.status).toBe('ACTIVE')
    })

    test('register an instance: 201, then 409 for the same id', async () => {
      const id = uuid()
      const body = { agent_type: ' Claude ', agent_instance_id: id, name: 'My run', transport: 'ws' }
      const r = await call(t.app, 'POST', '/api/v1/agent-instances', { key: alice.key, body })
      expect(r.status).toBe(201)
      expect(r.json).toEqual({
        agent_instance_id: id,
        agent_type_id: r.json.agent_type_id,
        agent_type_name: 'claude',
        status: 'ACTIVE',
        name: 'My run',
        instance_metadata: { transport: 'ws' },
      })
      const again = await call(t.app, 'POST', '/api/v1/agent-instances', { key: alice.key, body })
      expect(again.status).toBe(409)
      expect(again.json.detail).toBe('Agent instance already exists')
    })

    test('heartbeat answers with a Z timestamp; unknown instance 404', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'x', content: 'a' })
      const r = await call(t.app, 'POST', `/api/v1/agents/instances/${id}/heartbeat`, { key: alice.key })
      expect(r.status).toBe(200)
      expect(r.json.agent_instance_id).toBe(id)
      expect(r.json.last_heartbeat_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
      const missing = await call(t.app, 'POST', `/api/v1/agents/instances/${uuid()}/heartbeat`, {
        key: alice.key,
      })
      expect(missing.status).toBe(404)
    })

    test('auth/verify describes the key owner; bad keys get 401 with a detail', async () => {
      const ok = await call(t.app, 'GET', '/api/v1/auth/verify', { key: alice.key })
      expect(ok.json).toEqual({
        success: true,
        user_id: alice.id,
        email: alice.email,
        display_name: 'alice',
        message: 'Authentication successful',
      })
      const variants: Record<string, string>[] = [
        {},
        { authorization: 'Basic abc' },
        { authorization: 'Bearer prl_nope' },
      ]
      for (const headers of variants) {
        const r = await call(t.app, 'GET', '/api/v1/auth/verify', { headers })
        expect(r.status).toBe(401)
        expect(typeof r.json.detail).toBe('string')
        expect(r.json.error.code).toBe('UNAUTHORIZED')
      }
    })

    test('Idempotency-Key: the same key gives the same message and one row', async () => {
      const id = uuid()
      const headers = { 'idempotency-key': `k-${uuid()}` }
      const body = {
        agent_instance_id: id,
        agent_type: 'x',
        content: 'Deploy? [YES/NO]',
        requires_user_input: true,
      }
      const [a, b] = await Promise.all([agent(body, headers), agent(body, headers)])
      const c = await agent(body, headers)
      expect(a.status).toBe(200)
      expect(b.json.message_id).toBe(a.json.message_id)
      expect(c.json.message_id).toBe(a.json.message_id)
      const rows = await t.database.query<{ n: number }>(
        'select count(*)::int as n from messages where instance_id = $1',
        [id],
      )
      expect(rows[0]!.n).toBe(1)
    })

    test('git_diff: base64 is decoded and stored; junk is ignored; "" clears', async () => {
      const id = uuid()
      const diffOf = async () =>
        (
          await t.database.query<{ git_diff: string | null }>(
            'select git_diff from agent_instances where id = $1',
            [id],
          )
        )[0]!.git_diff
      await agent({
        agent_instance_id: id,
        agent_type: 'x',
        content: 'a',
        git_diff: Buffer.from(DIFF).toString('base64'),
      })
      expect(await diffOf()).toBe(DIFF)
      await agent({ agent_instance_id: id, content: 'b', git_diff: 'not a diff at all' })
      expect(await diffOf()).toBe(DIFF)
      await agent({ agent_instance_id: id, content: 'c', git_diff: '' })
      expect(await diffOf()).toBe('')
    })

    test('options, [OPTIONS] blocks and timeout_seconds are stored with the question', async () => {
      const id = uuid()
      const a = await agent({
        agent_instance_id: id,
        agent_type: 'x',
        content: 'Which db?\n\n[OPTIONS]\n1. Postgres\n2. SQLite\n[/OPTIONS]',
        requires_user_input: true,
        timeout_seconds: 600,
      })
      const b = await agent({
        agent_instance_id: id,
        content: 'Color?',
        requires_user_input: true,
        options: ['red', 'blue'],
      })
      const rows = await t.database.query<{ id: string; options: string[]; timeout_at: unknown }>(
        'select id, options, timeout_at from messages where instance_id = $1 order by id',
        [id],
      )
      expect(rows.map((r) => r.options)).toEqual([
        ['Postgres', 'SQLite'],
        ['red', 'blue'],
      ])
      expect(rows[0]!.timeout_at).not.toBeNull()
      expect(rows[1]!.id).toBe(b.json.message_id)
      expect(rows[0]!.id).toBe(a.json.message_id)
    })

    test('webhook_url in message_metadata is recorded for delivery once the question is answered', async () => {
      const id = uuid()
      const q = await agent({
        agent_instance_id: id,
        agent_type: 'n8n agent',
        content: 'Approve invoice?',
        requires_user_input: true,
        message_metadata: {
          webhook_url: 'https://n8n.example.com/webhook-waiting/1/node',
          webhook_type: 'n8n_send_and_wait',
        },
      })
      await user({ agent_instance_id: id, content: 'approved', mark_as_read: false })
      await user({ agent_instance_id: id, content: 'and another', mark_as_read: false })
      // One row for the answer (the outbox may already be trying to send it).
      const rows = await t.database.query<{ channel: string; target: string }>(
        'select channel, target from deliveries where message_id = $1',
        [q.json.message_id],
      )
      expect(rows).toEqual([{ channel: 'webhook', target: 'https://n8n.example.com/webhook-waiting/1/node' }])
    })

    test('the Omnara SDK endpoints: GET instance and PUT status (COMPLETED, and FAILED)', async () => {
      const id = uuid()
      await agent({ agent_instance_id: id, agent_type: 'x', content: 'a' })
      const bad = await call(t.app, 'PUT', `/api/v1/agent-instances/${id}/status`, {
        key: alice.key,
        body: { status: 'PAUSED' },
      })
      expect(bad.status).toBe(400)
      expect(bad.json.detail).toBe('Status update not supported')
      const ok = await call(t.app, 'PUT', `/api/v1/agent-instances/${id}/status`, {
        key: alice.key,
        body: { status: 'COMPLETED' },
      })
      expect(ok.json.status).toBe('COMPLETED')
      expect(Object.keys(ok.json)).toEqual([
        'id',
        'agent_type_id',
        'agent_type_name',
        'status',
        'name',
        'instance_metadata',
      ])
      const failed = uuid()
      await agent({ agent_instance_id: failed, agent_type: 'x', content: 'a' })
      const res = await call(t.app, 'PUT', `/api/v1/agent-instances/${failed}/status`, {
        key: alice.key,
        body: { status: 'FAILED' },
      })
      expect(res.json.status).toBe('FAILED')
      const [row] = await t.database.query<{ ended: boolean }>(
        'select ended_at is not null as ended from agent_instances where id = $1',
        [failed],
      )
      expect(row?.ended).toBe(true)
    })

    test('health endpoints answer without auth', async () => {
      expect((await call(t.app, 'GET', '/healthz')).status).toBe(200)
      const ready = await call(t.app, 'GET', '/readyz')
      expect(ready.status).toBe(200)
      expect((await call(t.app, 'GET', '/health')).json).toEqual({ status: 'healthy', server: 'unified' })
    })
  })
}
