// `parley hook` against a running Parley, with recorded payloads piped in as each agent does:
// events recorded, a permission held until a person answers and printed as the agent's decision,
// steering handed over at Stop once, and a key that may not touch the session refused silently.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { revokeApiKey } from '../../src/auth/api-keys.ts'
import { hookInstanceId } from '../../src/core/hooks/session.ts'
import type { Parley } from '../../src/main.ts'
import { fixture, nextQuestion } from '../agents/hooks-fixture.ts'
import { dbKinds, makeUser, type TestDb } from '../helpers.ts'
import { runCli } from './run-cli.ts'
import { startTestParley, type TestParley } from './test-parley.ts'

type Agent = 'claude-code' | 'codex'

for (const kind of dbKinds()) {
  describe(`parley hook against a running Parley (${kind})`, () => {
    let t: TestParley
    let db: TestDb
    let parley: Parley
    let url: string
    let alice: Awaited<ReturnType<typeof makeUser>>

    beforeAll(async () => {
      t = await startTestParley(kind)
      ;({ db, parley, url } = t)
      alice = await makeUser(db.database.db, 'alice')
    }, 60_000)
    afterAll(() => t.close())

    /** One agent session: pipes a recorded event (with this session's id) through `parley hook`. */
    function session(agent: Agent) {
      const sessionId = crypto.randomUUID()
      const hook = (name: string, key = alice.key) =>
        runCli(agent === 'codex' ? ['hook', '--agent', 'codex'] : ['hook'], {
          env: { PARLEY_URL: url, PARLEY_API_KEY: key },
          stdin: JSON.stringify({ ...fixture(agent, name), session_id: sessionId }),
        })
      return { sessionId, instanceId: hookInstanceId(sessionId, alice.id), hook }
    }

    const reply = async (instanceId: string, content: string) =>
      expect((await t.answer(alice.key, instanceId, content)).ok).toBe(true)

    const instance = async (id: string) =>
      (
        await db.database.query<{ status: string; agent: string }>(
          `select i.status, t.name as agent from agent_instances i
           join agent_types t on t.id = i.agent_type_id where i.id = $1`,
          [id],
        )
      )[0]

    test('Claude Code: SessionStart starts the instance; a permission answered Allow is printed as allow', async () => {
      const s = session('claude-code')
      const started = await s.hook('session-start')
      expect(started).toMatchObject({ code: 0, stdout: '', stderr: '' })
      expect(await instance(s.instanceId)).toEqual({ status: 'ACTIVE', agent: 'claude_code' })

      const asked = nextQuestion(parley.core.bus, s.instanceId)
      const held = s.hook('permission-request-bash')
      await asked
      await reply(s.instanceId, 'Allow')
      const r = await held
      expect(r).toMatchObject({ code: 0, stderr: '' })
      expect(JSON.parse(r.stdout)).toEqual({
        hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } },
      })

      expect(await s.hook('session-end')).toMatchObject({ code: 0, stdout: '' })
      expect((await instance(s.instanceId))?.status).toBe('COMPLETED')
    }, 20_000)

    test('Claude Code: its question answered in Parley comes back as the tool input plus answers', async () => {
      const s = session('claude-code')
      for (const event of ['user-prompt-submit', 'notification'])
        expect(await s.hook(event)).toMatchObject({ code: 0, stdout: '', stderr: '' })
      const asked = nextQuestion(parley.core.bus, s.instanceId)
      const held = s.hook('pre-tool-use-ask-user-question')
      await asked
      await reply(s.instanceId, 'SQLite')
      const r = await held
      expect(r.code).toBe(0)
      const out = JSON.parse(r.stdout).hookSpecificOutput
      expect(out).toMatchObject({ hookEventName: 'PreToolUse', permissionDecision: 'allow' })
      expect(out.updatedInput.answers).toEqual({ 'Which database should I use?': 'SQLite' })
      expect(out.updatedInput.questions).toEqual(
        (fixture('claude-code', 'pre-tool-use-ask-user-question').tool_input as { questions: unknown })
          .questions,
      )
    }, 20_000)

    test('Codex: a permission answered Deny is printed as deny; the agent is named codex', async () => {
      const s = session('codex')
      const asked = nextQuestion(parley.core.bus, s.instanceId)
      const held = s.hook('permission-request')
      const questionId = await asked
      const [q] = await db.database.query<{ content: string }>('select content from messages where id = $1', [
        questionId,
      ])
      expect(q?.content).toContain('git push origin v1.2.0')
      await reply(s.instanceId, 'Deny')
      const r = await held
      expect(r.code).toBe(0)
      const out = JSON.parse(r.stdout)
      expect(out.hookSpecificOutput.hookEventName).toBe('PermissionRequest')
      expect(out.hookSpecificOutput.decision.behavior).toBe('deny')
      expect((await instance(s.instanceId))?.agent).toBe('codex')
    }, 20_000)

    test('Codex: a message sent meanwhile is handed over at the next Stop, and only once', async () => {
      const s = session('codex')
      expect((await s.hook('user-prompt-submit')).code).toBe(0)
      await reply(s.instanceId, 'run the linter too')
      const first = await s.hook('stop')
      expect(first.code).toBe(0)
      const out = JSON.parse(first.stdout)
      expect(out.decision).toBe('block')
      expect(out.reason).toContain('run the linter too')
      const second = await s.hook('stop')
      expect(second).toMatchObject({ code: 0, stdout: '' })
    }, 20_000)

    test("another user's key on someone else's session, or a revoked key: nothing printed, exit 0", async () => {
      const s = session('claude-code')
      expect((await s.hook('session-start')).code).toBe(0)
      const bob = await makeUser(db.database.db, 'bob')
      const count = async () =>
        (
          await db.database.query<{ n: number }>(
            'select count(*)::int as n from messages where instance_id = $1',
            [s.instanceId],
          )
        )[0]?.n
      const before = await count()
      const intruder = await s.hook('permission-request-bash', bob.key)
      expect(intruder).toMatchObject({ code: 0, stdout: '' })
      expect(intruder.stderr.trim().split('\n')).toHaveLength(1)
      expect(await count()).toBe(before) // nothing asked or recorded on alice's session

      await revokeApiKey(db.database.db, parley.core.bus, bob.keyId)
      const revoked = await session('claude-code').hook('session-start', bob.key)
      expect(revoked).toMatchObject({ code: 0, stdout: '' })
      expect(revoked.stderr).toContain('the API key was refused (401)')
    }, 20_000)
  })
}
