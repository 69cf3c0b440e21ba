// The real Claude Code CLI, its hooks written by `parley hook install`, against a running Parley:
// a tool approval and a question of the agent's own, answered the way a person answers (a reply
// through Parley's answer path), and what the model is told afterwards read at the fake API.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLOSED_AT_TERMINAL, CLOSED_VIA } from '../../src/core/answer-wording.ts'
import { runCli } from '../cli/run-cli.ts'
import { startTestParley, type TestParley } from '../cli/test-parley.ts'
import { FakeAnthropic, type MessagesRequest, oneToolPerPrompt, type Turn } from '../fakes/anthropic.ts'
import { makeUser, type TestDb } from '../helpers.ts'
import { ClaudeSession, claudeBinary, claudeEnv, claudeHome } from './claude-driver.ts'
import { runInTerminal, type TerminalRun } from './terminal.ts'

const binary = claudeBinary()
const PYTHON_OK = `python3 -c 'print("ok")'`

describe.skipIf(!binary)('the real Claude Code CLI attached by parley hook install', () => {
  let t: TestParley
  let db: TestDb
  let url: string
  let alice: Awaited<ReturnType<typeof makeUser>>
  const scratch: string[] = []
  const sessions: ClaudeSession[] = []
  const fakes: FakeAnthropic[] = []
  const terminals: TerminalRun[] = []

  beforeAll(async () => {
    t = await startTestParley()
    ;({ db, url } = t)
    alice = await makeUser(db.database.db, 'alice')
  }, 60_000)

  afterAll(async () => {
    for (const s of sessions) await s.close()
    for (const ui of terminals) await ui.stop()
    for (const f of fakes) f.stop()
    await t.close()
    for (const d of scratch) rmSync(d, { recursive: true, force: true })
    for (const s of sessions) rmSync(s.home, { recursive: true, force: true })
  })

  /** A project with Parley's hooks installed, and Claude Code started in it on a fresh session. */
  async function claude(script: (req: MessagesRequest) => Turn | Promise<Turn>, parleyUrl = url) {
    const project = mkdtempSync(join(tmpdir(), 'parley-project-'))
    scratch.push(project)
    const install = await runCli(['hook', 'install', '--write'], {
      env: { PARLEY_URL: parleyUrl },
      cwd: project,
    })
    expect(install.code).toBe(0)
    const fake = new FakeAnthropic(script).start()
    fakes.push(fake)
    const sessionId = crypto.randomUUID()
    const session = ClaudeSession.start({
      binary: binary!,
      apiUrl: fake.url,
      projectDir: project,
      sessionId,
      env: { PATH: t.path, PARLEY_API_KEY: alice.key },
    })
    sessions.push(session)
    return { project, fake, session, sessionId }
  }

  /** The open question in the session's instance, once Parley has asked it. */
  async function openQuestion(instanceId: string, ms = 15_000) {
    const end = Date.now() + ms
    for (;;) {
      const rows = await db.database.query<{ id: string; content: string }>(
        'select id, content from messages where instance_id = $1 and requires_user_input and answered_at is null',
        [instanceId],
      )
      if (rows[0]) return rows[0]
      if (Date.now() > end) throw new Error(`no open question in ${instanceId} within ${ms} ms`)
      await Bun.sleep(50)
    }
  }

  /** The person's answer, through Parley's answer path (as the dashboard, Slack or Telegram give it). */
  async function reply(instanceId: string, content: string) {
    expect((await t.answer(alice.key, instanceId, content)).status).toBeLessThan(300)
  }

  test('a Bash approval answered Allow in Parley: the command runs', async () => {
    const { fake, session, sessionId } = await claude(
      oneToolPerPrompt([{ tool: 'Bash', input: { command: PYTHON_OK, description: 'Print ok' } }]),
    )
    session.prompt('print ok with python')
    const question = await openQuestion(sessionId)
    expect(question.content).toContain('Bash')
    expect(question.content).toContain(PYTHON_OK)
    await reply(sessionId, 'Allow')
    const result = await session.result()
    expect(result.subtype).toBe('success')
    expect(fake.toolResults()).toEqual([{ toolUseId: 'toolu_1', text: 'ok', isError: false }])
    // Parley decided: the driver never answered Claude Code's own permission prompt.
    expect(session.messages.some((m) => m.type === 'control_response')).toBe(false)

    // SessionStart went through the `parley hook` command (on PATH), and reached Parley.
    const started = session.messages.find(
      (m) => m.subtype === 'hook_response' && m.hook_event === 'SessionStart',
    )
    expect(started).toMatchObject({ exit_code: 0, stderr: '', stdout: '' })
    expect(await session.close()).toBe(0)

    const instance = async () =>
      (
        await db.database.query<{ status: string; agent: string }>(
          `select i.status, t.name as agent from agent_instances i join agent_types t on t.id = i.agent_type_id
           where i.id = $1`,
          [sessionId],
        )
      )[0]
    expect((await instance())?.agent).toBe('claude_code')
    const end = Date.now() + 5000
    while ((await instance())?.status !== 'COMPLETED' && Date.now() < end) await Bun.sleep(50)
    expect((await instance())?.status).toBe('COMPLETED') // SessionEnd
    const thread = await db.database.query<{ sender: string; content: string }>(
      'select sender, content from messages where instance_id = $1 order by id',
      [sessionId],
    )
    expect(thread.find((m) => m.sender === 'USER' && m.content === 'print ok with python')).toBeDefined()
    expect(thread.find((m) => m.sender === 'AGENT' && m.content.includes('Done.'))).toBeDefined() // Stop
  }, 30_000)

  test('answered Deny in Parley: the command does not run and the model is told', async () => {
    const { fake, session, sessionId } = await claude(
      oneToolPerPrompt([{ tool: 'Bash', input: { command: PYTHON_OK, description: 'Print ok' } }]),
    )
    session.prompt('print ok with python')
    await openQuestion(sessionId)
    await reply(sessionId, 'Deny')
    await session.result()
    const [denied] = fake.toolResults()
    expect(denied?.isError).toBe(true)
    expect(denied?.text).toContain('Denied')
  }, 30_000)

  test('a typed reply instead of a button denies, and the model reads the words', async () => {
    const { fake, session, sessionId } = await claude(
      oneToolPerPrompt([{ tool: 'Bash', input: { command: PYTHON_OK, description: 'Print ok' } }]),
    )
    session.prompt('print ok with python')
    await openQuestion(sessionId)
    await reply(sessionId, 'not python, use node')
    await session.result()
    const [denied] = fake.toolResults()
    expect(denied?.isError).toBe(true)
    expect(denied?.text).toContain('not python, use node')
  }, 30_000)

  test('Allow for this session: the same command later runs without asking again', async () => {
    const bash = { tool: 'Bash', input: { command: PYTHON_OK, description: 'Print ok' } }
    const { fake, session, sessionId } = await claude(oneToolPerPrompt([bash, bash]))
    session.prompt('print ok with python')
    await openQuestion(sessionId)
    await reply(sessionId, 'Allow for this session')
    await session.result(1)
    session.prompt('once more')
    await session.result(2)
    expect(fake.toolResults().map((r) => r.text)).toEqual(['ok', 'ok'])
    const asked = await db.database.query<{ n: number }>(
      'select count(*)::int as n from messages where instance_id = $1 and requires_user_input',
      [sessionId],
    )
    expect(asked[0]?.n).toBe(1)
  }, 30_000)

  test('AskUserQuestion answered in Parley: the model receives the chosen option', async () => {
    const questionText = 'Which database should I use?'
    const input = {
      questions: [
        {
          question: questionText,
          header: 'Database',
          multiSelect: false,
          options: [
            { label: 'Postgres', description: 'A server, for production' },
            { label: 'SQLite', description: 'A file, for a prototype' },
          ],
        },
      ],
    }
    const { fake, session, sessionId } = await claude(oneToolPerPrompt([{ tool: 'AskUserQuestion', input }]))
    session.prompt('set up the database')
    const question = await openQuestion(sessionId)
    expect(question.content).toContain(questionText)
    await reply(sessionId, 'Postgres')
    await session.result()
    const [answered] = fake.toolResults()
    expect(answered?.isError).toBe(false)
    expect(answered?.text).toContain(`"${questionText}"="Postgres"`)
    expect(session.messages.some((m) => m.type === 'control_response')).toBe(false)
  }, 30_000)

  test('answered at the terminal first: the command runs and Parley closes its question', async () => {
    const { fake, session, sessionId } = await claude(
      oneToolPerPrompt([{ tool: 'Bash', input: { command: PYTHON_OK, description: 'Print ok' } }]),
    )
    session.prompt('print ok with python')
    const question = await openQuestion(sessionId)
    // The person at the terminal (here: the SDK's permission prompt) allows before anyone in Parley.
    const prompt = await session.waitFor((m) => m.request?.subtype === 'can_use_tool', 10_000, 'can_use_tool')
    session.answer(prompt.request_id, { behavior: 'allow', updatedInput: prompt.request.input })
    await session.result()
    expect(fake.toolResults()).toEqual([{ toolUseId: 'toolu_1', text: 'ok', isError: false }])
    // Claude Code (2.1.197, stream-json) keeps the hook's request open after the terminal
    // answered, and lets go of it when the session ends: Parley then closes the question.
    await session.close()
    const closed = async () =>
      (
        await db.database.query<{ reason: string | null }>(
          `select metadata->>'closed_reason' as reason from messages where id = $1 and answered_via = $2`,
          [question.id, CLOSED_VIA],
        )
      )[0]?.reason
    const end = Date.now() + 5_000
    while (!(await closed()) && Date.now() < end) await Bun.sleep(50)
    expect(await closed()).toBe(CLOSED_AT_TERMINAL)
  }, 30_000)

  test('a message sent while the agent works is handed over at its next Stop, once', async () => {
    const thinking = Promise.withResolvers<void>()
    const steered = Promise.withResolvers<void>()
    const said = (req: MessagesRequest) => JSON.stringify(req.messages).includes('also write a changelog')
    const { fake, session, sessionId } = await claude(async (req) => {
      if (said(req)) return { text: 'Changelog written.' }
      thinking.resolve() // the prompt's hooks are done: the model has it
      await steered.promise // the person writes while the model is still thinking
      return { text: 'Done.' }
    })
    session.prompt('tidy the code')
    await thinking.promise
    await reply(sessionId, 'also write a changelog')
    steered.resolve()
    const result = await session.result()
    expect(result.result).toBe('Changelog written.')
    // Handed over once: the Stop after the changelog let the agent stop.
    const turns = fake.requests.filter((r) => r.tools?.length)
    expect(turns).toHaveLength(2)
    expect(JSON.stringify(turns[1]!.messages).split('also write a changelog')).toHaveLength(2)
  }, 30_000)

  test('interactive, the dialog on screen: Allow pressed in Parley runs the command', async () => {
    const project = mkdtempSync(join(tmpdir(), 'parley-project-'))
    scratch.push(project)
    expect(
      (await runCli(['hook', 'install', '--write'], { env: { PARLEY_URL: url }, cwd: project })).code,
    ).toBe(0)
    const fake = new FakeAnthropic(
      oneToolPerPrompt([{ tool: 'Bash', input: { command: PYTHON_OK, description: 'Print ok' } }]),
    ).start()
    fakes.push(fake)
    const home = claudeHome(project)
    scratch.push(home)
    const sessionId = crypto.randomUUID()
    const ui = runInTerminal([binary!, '--session-id', sessionId, 'print ok with python'], {
      cwd: project,
      env: { ...claudeEnv(fake.url, home), PATH: t.path, PARLEY_API_KEY: alice.key },
    })
    terminals.push(ui)
    await openQuestion(sessionId)
    // Claude Code shows its own dialog while the hook waits; Parley's answer settles it.
    let end = Date.now() + 15_000
    while (!ui.screen().includes('proceed') && Date.now() < end) await Bun.sleep(100)
    expect(ui.screen()).toContain('proceed')
    await reply(sessionId, 'Allow')
    end = Date.now() + 15_000
    while (fake.toolResults().length === 0 && Date.now() < end) await Bun.sleep(100)
    expect(fake.toolResults().map((r) => r.text)).toEqual(['ok'])
  }, 30_000)

  test('Parley down: the hooks fail open and Claude Code asks its own prompt as usual', async () => {
    const { fake, session } = await claude(
      oneToolPerPrompt([{ tool: 'Bash', input: { command: PYTHON_OK, description: 'Print ok' } }]),
      'http://127.0.0.1:9', // nothing listens there
    )
    session.prompt('print ok with python')
    // Failing open means Claude Code's own prompt comes, not a wait for the hook's timeout.
    const prompt = await session.waitFor((m) => m.request?.subtype === 'can_use_tool', 15_000, 'can_use_tool')
    session.answer(prompt.request_id, { behavior: 'allow', updatedInput: prompt.request.input })
    expect((await session.result()).subtype).toBe('success')
    expect(fake.toolResults().map((r) => r.text)).toEqual(['ok'])
    const start = session.messages.find(
      (m) => m.subtype === 'hook_response' && m.hook_event === 'SessionStart',
    )
    expect(start).toMatchObject({ exit_code: 0, stdout: '' }) // `parley hook`: silent, exit 0
    expect(start?.stderr).toContain('cannot reach http://127.0.0.1:9')
  }, 30_000)

  test('the hooks written are the ones in .claude/settings.json, the key only as $PARLEY_API_KEY', async () => {
    const project = mkdtempSync(join(tmpdir(), 'parley-project-'))
    scratch.push(project)
    mkdirSync(join(project, '.claude'))
    await runCli(['hook', 'install', '--write'], {
      env: { PARLEY_URL: url, PARLEY_API_KEY: alice.key },
      cwd: project,
    })
    const text = readFileSync(join(project, '.claude', 'settings.json'), 'utf8')
    expect(text).toContain('$PARLEY_API_KEY')
    expect(text).not.toContain(alice.key)
  })
})
