// Hook requests on a real listening server: an approval held past Bun's idle timeout still gets
// its answer, and an agent that hangs up (its hook timed out, or the person answered at the
// terminal) closes the question through the request's abort signal. (Bun 1.4 closes idle GETs but
// not POSTs whose handler is still running, so the first test guards the behaviour, not the
// server.timeout(request, 0) call itself, which stays for versions that do.)
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { revokeApiKey } from '../../src/auth/api-keys.ts'
import { answerQuestion } from '../../src/core/answers.ts'
import { INTERRUPTED_GRACE_S } from '../../src/core/hooks/questions.ts'
import { nextEvent } from '../../src/events/bus.ts'
import { call, dbKinds, freshDatabase, makeUser, type TestApp, testApp } from '../helpers.ts'
import { fixture, nextQuestion } from './hooks-fixture.ts'

const IDLE_TIMEOUT_S = 2

for (const kind of dbKinds()) {
  describe(`hooks over HTTP (${kind})`, () => {
    let t: TestApp
    let base: string
    let alice: Awaited<ReturnType<typeof makeUser>>
    beforeAll(async () => {
      t = await testApp(kind)
      t.app.listen({ port: 0, hostname: '127.0.0.1', idleTimeout: IDLE_TIMEOUT_S })
      base = `http://127.0.0.1:${t.app.server!.port}`
      alice = await makeUser(t.database.db, 'alice')
    }, 60_000)
    afterAll(async () => {
      await t.app.stop(true)
      await t.close()
    })

    const post = (sessionId: string, signal?: AbortSignal) =>
      fetch(`${base}/hooks/claude-code?timeout=60`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...fixture('claude-code', 'permission-request-bash'), session_id: sessionId }),
        signal,
      })

    // Bun's idle timeout is the same whichever database is behind it: run once, not per database.
    const onFirstDatabase = kind === dbKinds()[0] ? test : test.skip
    onFirstDatabase(
      `an approval held idle for ${IDLE_TIMEOUT_S * 2} s still returns the decision`,
      async () => {
        const sessionId = crypto.randomUUID()
        const asked = nextQuestion(t.bus, sessionId)
        const held = post(sessionId)
        const questionId = await asked
        await Bun.sleep(IDLE_TIMEOUT_S * 2000)
        // The Allow button, pressed on the dashboard.
        const answered = await answerQuestion(t.core, {
          actorUserId: alice.id,
          questionId,
          answer: { option: 0 },
          channel: 'web',
        })
        expect(answered.status).toBe('answered')
        const res = await held
        expect(res.status).toBe(200)
        expect(await res.json()).toEqual({
          hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } },
        })
      },
      20_000,
    )

    test('a key revoked while its approval is held ends the request with 401 and closes the question', async () => {
      const bob = await makeUser(t.database.db, 'bob')
      const sessionId = crypto.randomUUID()
      const asked = nextQuestion(t.bus, sessionId)
      const held = fetch(`${base}/hooks/claude-code?timeout=60`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...fixture('claude-code', 'permission-request-bash'), session_id: sessionId }),
      })
      const questionId = await asked
      const revokedAt = performance.now()
      await revokeApiKey(t.database.db, t.bus, bob.keyId)
      const res = await held
      expect(res.status).toBe(401)
      // Ended by the revocation, not by the hook's 60 s timeout.
      expect(performance.now() - revokedAt).toBeLessThan(5_000)
      // Nobody can allow it any more: the question is closed, not left open with live buttons.
      const [q] = await t.database.query<{ answered_via: string }>(
        'select answered_via from messages where id = $1',
        [questionId],
      )
      expect(q?.answered_via).toBe('closed')
    }, 20_000)

    test('the agent hanging up closes the question and frees its waiter', async () => {
      const sessionId = crypto.randomUUID()
      const asked = nextQuestion(t.bus, sessionId)
      const gone = new AbortController()
      const held = post(sessionId, gone.signal).catch(() => null)
      const questionId = await asked
      const closed = nextEvent(
        t.bus,
        { instanceId: sessionId },
        (e) => e.type === 'question.answered' && e.questionId === questionId && e.answerId === null,
        5000,
      ).promise
      gone.abort()
      await held
      expect(await closed).not.toBeNull()
      const [q] = await t.database.query<{ answered_via: string }>(
        'select answered_via from messages where id = $1',
        [questionId],
      )
      expect(q!.answered_via).toBe('closed')
      // Nobody is left listening for that question.
      const late = await call(t.app, 'POST', '/api/v1/messages/user', {
        key: alice.key,
        body: { agent_instance_id: sessionId, content: 'Allow', mark_as_read: false },
      })
      expect(late.status).toBe(200)
    }, 20_000)
  })

  describe(`hooks when Parley stops (${kind})`, () => {
    test('a held approval answers 503 + Retry-After; its question stays open for a retry, then times out by itself', async () => {
      const db = await freshDatabase(kind)
      const t = await testApp(kind, { db })
      try {
        const user = await makeUser(t.database.db, 'stop')
        const sessionId = crypto.randomUUID()
        const asked = nextQuestion(t.bus, sessionId)
        const held = call(t.app, 'POST', '/hooks/claude-code', {
          key: user.key,
          body: { ...fixture('claude-code', 'permission-request-bash'), session_id: sessionId },
        })
        const questionId = await asked
        await t.parley.stop()
        // Claude Code's HTTP hook takes a 503 as "no decision" and asks at its terminal; `parley
        // hook` sends the request again, and a running machine takes the question back.
        const res = await held
        expect(res.status).toBe(503)
        expect(res.headers.get('retry-after')).toBe('1')
        expect(res.json.error.code).toBe('UNAVAILABLE')
        const [q] = await t.database.query<{ answered_via: string | null; grace: number }>(
          `select answered_via, extract(epoch from timeout_at - now()) as grace from messages where id = $1`,
          [questionId],
        )
        expect(q!.answered_via).toBeNull()
        expect(Number(q!.grace)).toBeGreaterThan(0)
        expect(Number(q!.grace)).toBeLessThanOrEqual(INTERRUPTED_GRACE_S)

        // Sent again after the grace, the same request is a new question: an old answer never
        // decides a later request.
        await t.database.query(`update messages set timeout_at = now() - interval '1 second' where id = $1`, [
          questionId,
        ])
        const later = await testApp(kind, { db })
        try {
          const abort = new AbortController()
          const again = nextQuestion(later.bus, sessionId)
          const resent = later.app
            .handle(
              new Request('http://parley.test/hooks/claude-code', {
                method: 'POST',
                headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' },
                body: JSON.stringify({
                  ...fixture('claude-code', 'permission-request-bash'),
                  session_id: sessionId,
                }),
                signal: abort.signal,
              }),
            )
            .catch(() => null)
          expect(await again).not.toBe(questionId)
          abort.abort()
          await resent
        } finally {
          await later.close()
        }
      } finally {
        await db.drop()
      }
    }, 30_000)
  })
}
