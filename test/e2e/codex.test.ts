// The real Codex CLI, its hooks written by `parley hook install --agent codex` (command hooks that
// run `parley hook`), against a running Parley: a command that needs approval, answered in Parley.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '../cli/run-cli.ts'
import { startTestParley, type TestParley } from '../cli/test-parley.ts'
import { type CodexTurn, FakeResponses, type ResponsesRequest } from '../fakes/openai.ts'
import { makeUser, type TestDb } from '../helpers.ts'
import { codexBinary, codexHome, startCodex } from './codex-driver.ts'
import type { TerminalRun } from './terminal.ts'

const binary = codexBinary()
const PYTHON_OK = `python3 -c 'print("ok")'`

/** Runs the command once, asking for escalation (what makes Codex ask), then ends the turn. */
function escalateOnce(req: ResponsesRequest): CodexTurn {
  if (!req.tools?.some((t) => t.name === 'exec_command')) return { text: 'ok' }
  if (req.input.at(-1)?.type === 'function_call_output') return { text: 'Done.' }
  return {
    call: 'exec_command',
    arguments: { cmd: PYTHON_OK, sandbox_permissions: 'require_escalated', justification: 'Print ok' },
  }
}

describe.skipIf(!binary)('the real Codex CLI attached by parley hook install --agent codex', () => {
  let t: TestParley
  let db: TestDb
  const scratch: string[] = []
  const runs: TerminalRun[] = []
  const fakes: FakeResponses[] = []

  beforeAll(async () => {
    t = await startTestParley()
    db = t.db
  }, 60_000)

  afterAll(async () => {
    for (const r of runs) await r.stop()
    for (const f of fakes) f.stop()
    await t.close()
    for (const d of scratch) rmSync(d, { recursive: true, force: true })
  })

  async function codex(
    prompt: string,
    script: (req: ResponsesRequest) => CodexTurn | Promise<CodexTurn> = escalateOnce,
  ) {
    const user = await makeUser(db.database.db, 'codex-user')
    const project = mkdtempSync(join(tmpdir(), 'parley-codex-project-'))
    scratch.push(project)
    Bun.spawnSync(['git', 'init', '-q'], { cwd: project })
    const fake = new FakeResponses(script).start()
    fakes.push(fake)
    const { home, codexHome: dir } = codexHome(fake.baseUrl, project)
    scratch.push(home)
    const install = await runCli(['hook', 'install', '--agent', 'codex', '--user', '--write'], {
      env: { PARLEY_URL: t.url, HOME: home, CODEX_HOME: dir },
    })
    expect(install.code).toBe(0)
    const run = startCodex({
      binary: binary!,
      projectDir: project,
      home,
      codexHome: dir,
      prompt,
      env: { PATH: t.path, PARLEY_API_KEY: user.key },
    })
    runs.push(run)
    return { user, fake, run }
  }

  /** The user's open question, once Parley has asked it, with its instance. */
  async function openQuestion(userId: string, ms = 20_000) {
    const end = Date.now() + ms
    for (;;) {
      const rows = await db.database.query<{ id: string; instanceId: string; content: string }>(
        `select m.id, m.instance_id as "instanceId", m.content from messages m
         join agent_instances i on i.id = m.instance_id
         where i.user_id = $1 and m.requires_user_input and m.answered_at is null`,
        [userId],
      )
      if (rows[0]) return rows[0]
      if (Date.now() > end) throw new Error(`no open question within ${ms} ms`)
      await Bun.sleep(100)
    }
  }

  async function reply(key: string, instanceId: string, content: string) {
    expect((await t.answer(key, instanceId, content)).ok).toBe(true)
  }

  async function callOutput(fake: FakeResponses, run: TerminalRun, ms = 15_000) {
    const end = Date.now() + ms
    while (fake.callOutputs().length === 0) {
      if (Date.now() > end)
        throw new Error(`no command result within ${ms} ms; screen: ${run.screen().slice(-2000)}`)
      await Bun.sleep(100)
    }
    return fake.callOutputs()[0]!.output
  }

  test('a command that needs approval, answered Allow in Parley, runs', async () => {
    const { user, fake, run } = await codex('print ok with python')
    const question = await openQuestion(user.id)
    expect(question.content).toContain(PYTHON_OK)
    await reply(user.key, question.instanceId, 'Allow')
    expect(await callOutput(fake, run)).toMatch(/Process exited with code 0[\s\S]*Output:\nok\n/)
    const [instance] = await db.database.query<{ agent: string }>(
      `select t.name as agent from agent_instances i join agent_types t on t.id = i.agent_type_id where i.id = $1`,
      [question.instanceId],
    )
    expect(instance?.agent).toBe('codex')
    const prompt = await db.database.query('select 1 from messages where instance_id = $1 and content = $2', [
      question.instanceId,
      'print ok with python',
    ])
    expect(prompt).toHaveLength(1) // UserPromptSubmit went through `parley hook` too
  }, 30_000)

  test('answered Deny in Parley: the command does not run', async () => {
    const { user, fake, run } = await codex('print ok with python')
    const question = await openQuestion(user.id)
    await reply(user.key, question.instanceId, 'Deny')
    const output = await callOutput(fake, run)
    expect(output).not.toMatch(/^ok$/m)
    expect(output).toContain('Denied')
  }, 30_000)

  test('a message sent while Codex works is handed over at its next Stop, once', async () => {
    const thinking = Promise.withResolvers<void>()
    const steered = Promise.withResolvers<void>()
    const said = (req: ResponsesRequest) => JSON.stringify(req.input).includes('also write a changelog')
    const { user, fake } = await codex('tidy the code', async (req) => {
      if (!req.tools?.some((t) => t.name === 'exec_command')) return { text: 'ok' }
      if (said(req)) return { text: 'Changelog written.' }
      thinking.resolve() // the prompt's hooks are done: the model has it
      await steered.promise // the person writes while the model is still thinking
      return { text: 'Done.' }
    })
    await thinking.promise
    const [instance] = await db.database.query<{ id: string }>(
      'select id from agent_instances where user_id = $1',
      [user.id],
    )
    const instanceId = instance!.id
    await reply(user.key, instanceId, 'also write a changelog')
    steered.resolve()
    const end = Date.now() + 20_000
    while (!fake.requests.some(said) && Date.now() < end) await Bun.sleep(100)
    const turns = () => fake.requests.filter((r) => r.tools?.some((t) => t.name === 'exec_command'))
    expect(turns().filter(said)).toHaveLength(1)
    // Handed over once: the Stop after the changelog lets Codex stop, with no third turn.
    const last = async () =>
      (
        await db.database.query<{ content: string }>(
          `select content from messages where instance_id = $1 and sender = 'AGENT' order by id desc limit 1`,
          [instanceId],
        )
      )[0]?.content ?? ''
    while (!(await last()).includes('Changelog written.') && Date.now() < end) await Bun.sleep(100)
    expect(await last()).toContain('Changelog written.')
    expect(turns()).toHaveLength(2)
  }, 30_000)
})
